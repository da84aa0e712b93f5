"""Export a recognizer (DTF-Net, DTF-Transformer or any MMAction2 one) to ONNX.

Builds the model from the config (backbone ``pretrained`` forced to None),
loads the checkpoint if given, switches the DTF blocks to their
export-friendly path (``spectral_impl='matmul'``: the DFT over time as
matrix products; FA in standard operators) and exports backbone + head:
a normalised clip batch ``(N, C, T, H, W)`` to class scores before softmax,
the batch axis dynamic. ``--check`` runs the file with onnxruntime and
prints the largest absolute difference to PyTorch on a random input.

Examples::

    python tools/deployment/export_onnx.py configs/dtf_r50_k400.py \\
        dtf_r50.pth \\
        --shape 1 3 16 256 256 --output dtf_r50.onnx --check
    python tools/deployment/export_onnx.py configs/demo/dtf_r18_demo.py \\
        --shape 2 3 16 48 48 --check
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mmdtf  # noqa: E402,F401  (MMAction2 compat patches, DTF models)
from mmaction.apis import init_recognizer  # noqa: E402
from mmdtf.analysis.benchmark import input_shape_from  # noqa: E402
from mmdtf.deployment.onnx_export import (  # noqa: E402
    RecognizerForExport, check_onnx, export_onnx, onnx_operator_counts,
    onnx_opset)
from mmdtf.utils.config_cli import (add_config_arguments,  # noqa: E402
                                    add_shape_argument, load_config)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export a recognizer to ONNX (DTF blocks included)')
    add_config_arguments(parser)
    parser.add_argument(
        'checkpoint', nargs='?', default=None,
        help='checkpoint file (default: random weights, for testing only)')
    add_shape_argument(parser)
    parser.add_argument(
        '--output', default=None,
        help='ONNX file to write (default: <config name>.onnx)')
    parser.add_argument(
        '--opset', type=int, default=None,
        help='ONNX opset (default 17, or 18 with --dynamo)')
    parser.add_argument(
        '--dynamo', action='store_true',
        help="use torch.onnx's torch.export-based exporter (needs "
        'onnxscript) instead of the TorchScript-based one')
    parser.add_argument(
        '--check', action='store_true',
        help='compare onnxruntime with PyTorch on a random input')
    parser.add_argument('--seed', type=int, default=0, help='input seed')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args)
    input_shape = input_shape_from(cfg, args.shape)
    output = args.output or f'{Path(args.config).stem}.onnx'
    if args.checkpoint is None:
        print('No checkpoint given: exporting randomly initialised weights '
              '(DTF blocks start as the identity).')
    torch.manual_seed(args.seed)
    model = init_recognizer(cfg, args.checkpoint, device='cpu')
    num_segments = input_shape[0] if len(input_shape) == 4 else None
    wrapper = RecognizerForExport(model, num_segments=num_segments).eval()

    inputs = torch.randn(*input_shape)
    export_onnx(wrapper, inputs, output, opset_version=args.opset,
                dynamo=args.dynamo, dynamic_batch=num_segments is None)
    ops = onnx_operator_counts(output)
    opset = onnx_opset(output)
    print(f'Exported {type(model).__name__} to {output} (opset {opset}, '
          f'input {tuple(input_shape)}, '
          f"{'dynamo' if args.dynamo else 'TorchScript'} exporter).")
    print('ONNX operators: ' + ', '.join(
        f'{op} x{n}' for op, n in sorted(ops.items())))
    result = {'output': output, 'opset': opset, 'operators': ops}
    if args.check:
        result.update(check_onnx(output, wrapper, inputs))
        print(f"onnxruntime vs PyTorch: max abs diff "
              f"{result['max_abs_diff']:.3g} (outputs up to "
              f"{result['max_abs_ref']:.3g})")
    return result


if __name__ == '__main__':
    main()
