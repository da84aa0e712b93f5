"""Count the FLOPs and parameters of a recognizer, DTF operators included.

As MMAction2's ``tools/analysis_tools/get_flops.py``: builds the model from
the config (backbone ``pretrained`` forced to None), traces ``extract_feat``
(backbone and neck, no head) on one random input of shape ``(1, *shape)``
with MMEngine's ``FlopAnalyzer`` and prints its table, the FLOPs and the
parameters. It also counts what ``FlopAnalyzer`` misses in DTF models (the
FA op, the FFTs over time, the complex multiply) and prints two totals:
the paper's convention (a complex multiply-add counted once) and all-real
multiply-adds. ``mmdtf.analysis.flops`` holds the rules; they are printed too.
With a ``TCPHead`` (or ``--with-head``) the head is traced too
(``extract_feat(..., stage='head')``): TCP's covariance pooling and
Newton-Schulz iterations are printed on their own lines.

Examples::

    python tools/analysis_tools/get_flops.py configs/dtf_r50_k400.py \\
        --shape 1 3 16 256 256
    python tools/analysis_tools/get_flops.py \\
        configs/dtf/dtf_swin-b-p4-w7-in22k-pre_8xb8-64x2x1-128e_kinetics400-rgb.py \\
        --shape 1 3 64 224 224 --no-table
    python tools/analysis_tools/get_flops.py configs/dtf_r50_k400.py \\
        --shape 256 --cfg-options model.backbone.dtf_cfg.channel_mixing=False
    python tools/analysis_tools/get_flops.py \\
        configs/tcp/tcp-tsn_imagenet-pretrained-r50_8xb12-1x1x8-50e_kinetics400-rgb.py
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from mmengine.analysis.print_helper import _format_size

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mmdtf  # noqa: E402,F401  (MMAction2 compat patches, DTF models)
from mmaction.apis import init_recognizer  # noqa: E402
from mmdtf.analysis.benchmark import input_shape_from  # noqa: E402
from mmdtf.analysis.flops import (COUNTING_RULES,  # noqa: E402
                                  REAL_MACS_PER_PAPER_MAC,
                                  get_dtf_complexity_info)
from mmdtf.utils.config_cli import (add_config_arguments,  # noqa: E402
                                    add_shape_argument, load_config)

DTF_CATEGORIES = ('frame_aggregation', 'spectral_dft', 'complex_mul',
                  'spectral_mixing')
TCP_CATEGORIES = ('covariance_pool', 'isqrt')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Get model flops and params, DTF operators included')
    add_config_arguments(parser)
    add_shape_argument(parser)
    parser.add_argument(
        '--no-table', action='store_true',
        help='do not print the per-module table')
    parser.add_argument(
        '--with-head', action='store_true',
        help='count the head too (always on for TCPHead)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args)
    input_shape = input_shape_from(cfg, args.shape)
    model = init_recognizer(cfg, device='cpu')  # no pretrained weights
    with_head = args.with_head or cfg.model.get(
        'cls_head', {}).get('type') == 'TCPHead'
    if hasattr(model, 'extract_feat'):
        extract_feat = model.extract_feat
        if with_head:
            model.forward = lambda x: extract_feat(x, stage='head')[0]
        else:
            model.forward = extract_feat
    else:
        raise NotImplementedError(
            'FLOPs counter is currently not supported with '
            f'{model.__class__.__name__}')

    info = get_dtf_complexity_info(model, input_shape,
                                   show_table=not args.no_table)
    if info['out_table']:
        print(info['out_table'])
    by_op = info['by_operator']
    split_line = '=' * 30
    lines = [
        split_line,
        f'Input shape: {input_shape}',
        'Counted: backbone' + (', neck and head' if with_head else
                               ' and neck (no head)'),
        'Flops (paper convention, complex MAC counted once): '
        f"{info['flops_paper'] / 1e9:.2f}G",
        f"Flops (all-real multiply-adds): {info['flops'] / 1e9:.2f}G",
        f"Params: {info['params_str']}",
    ]
    dtf_ops = [op for op in DTF_CATEGORIES if by_op.get(op)]
    if dtf_ops:
        lines.append('DTF operators (all-real / paper):')
        for op in dtf_ops:
            paper = by_op[op] / REAL_MACS_PER_PAPER_MAC.get(op, 1)
            lines.append(f'  {op:<18} {_format_size(by_op[op]):>8} / '
                         f'{_format_size(int(paper)):>8}')
    tcp_ops = [op for op in TCP_CATEGORIES if by_op.get(op)]
    if tcp_ops:
        lines.append('TCP head matrix products:')
        for op in tcp_ops:
            lines.append(f'  {op:<18} {_format_size(by_op[op]):>8}')
    others = sorted(op for op in by_op
                    if op not in DTF_CATEGORIES + TCP_CATEGORIES)
    lines.append('Other operators: ' + ', '.join(
        f'{op} {_format_size(by_op[op])}' for op in others))
    uncounted = info['unsupported_ops']
    if uncounted:
        lines.append('Not counted (element-wise or unsupported): ' + ', '.join(
            f'{op} x{n}' for op, n in sorted(uncounted.items())))
    lines.append('Counting rules:')
    lines.extend(f'  - {rule}' for rule in COUNTING_RULES)
    lines.append(split_line)
    print('\n'.join(lines))
    print('!!!Please be cautious if you use the results in papers. '
          'You may need to check if all ops are supported and verify that the '
          'flops computation is correct.')
    return info


if __name__ == '__main__':
    main()
