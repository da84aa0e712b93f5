#!/usr/bin/env python
"""Convert a checkpoint of the authors' DTF code (FuchenUSTC/DTF: DTF-Net or
DTF-Transformer) into an mmdtf Recognizer3D checkpoint.

    python tools/model_converters/convert_dtf_authors.py their.pth ours.pth

The model must be built with ``dtf_cfg.variant='authors'`` (e.g. for their
R50 at 16 frames, configs/dtf/dtf-authors_imagenet-pretrained-r50_8xb32-
16x1x1-128e_kinetics400-rgb.py); the keys it needs are printed. Then
``mim test mmaction2 CONFIG --checkpoint ours.pth``
(docs/models/dtf_blocks.md).
"""
import argparse
import pprint

import torch


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='the authors\' checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the mmdtf checkpoint')
    args = parser.parse_args(argv)

    from mmengine.runner.checkpoint import _load_checkpoint

    from mmdtf.models.weights.dtf_authors import convert_dtf_authors
    try:
        checkpoint = _load_checkpoint(args.src, map_location='cpu')
    except FileNotFoundError:
        parser.error(f'no such file: {args.src}')
    state_dict, hints = convert_dtf_authors(checkpoint)
    torch.save(dict(state_dict=state_dict,
                    meta=dict(converted_from='FuchenUSTC/DTF',
                              model_backbone=hints)), args.dst)
    print(f'wrote {len(state_dict)} tensors to {args.dst}; build the model '
          'with these `model.backbone` keys:')
    pprint.pprint(hints, sort_dicts=False)
    if 'cls_head.fc_cls.weight' in state_dict:
        print('and `model.cls_head.num_classes='
              f"{state_dict['cls_head.fc_cls.weight'].shape[0]}`")
    return state_dict, hints


if __name__ == '__main__':
    main()
