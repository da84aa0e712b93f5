#!/usr/bin/env python
"""Extract the fine stream's multi-level features for Coarse-Fine Networks.

Runs the frozen backbone of a trained fine-stream model (an
``X3DCoarseFine`` with ``temporal_pool=None``, e.g.
configs/coarse_fine/x3d-m_fine-stream_...) over every ``--stride``-th frame
of each whole video and writes ``<out>/<id>.npz`` with, per level
(layer1..layer4, conv5), a float16 (C, Tf, s, s) array (space average-pooled
to ``--spatial-size``), and ``stride``: feature j is frame j * stride.

Shows a progress line; a video whose file exists is skipped, and files are
written atomically, so an interrupted run resumes where it stopped.

Example::

    python tools/data/extract_fine_features.py \
      configs/coarse_fine/x3d-m_fine-stream_1xb6-64x10x1-40e_charades-rgb.py \
        work_dirs/fine/best.pth data/charades/fine_features \
        --ann-file data/charades/Charades_v1_train.csv --stride 10
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdtf.structures import write_fine_features
from mmdtf.utils.progress import track

# transforms of the test pipeline that do not apply to whole-video frames
SKIPPED = ('SampleDetectionFrames', 'LoadFineFeatures', 'PackActionInputs')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='fine-stream config')
    p.add_argument('checkpoint', help="fine-stream checkpoint, or 'none' "
                   '(random weights: for tests only)')
    p.add_argument('out_dir')
    p.add_argument('--ann-file', help='CSV to extract (default: the '
                   "config's test_dataloader ann_file)")
    p.add_argument('--data-prefix', help='folder of the frame folders '
                   "(default: the config's test_dataloader data_prefix.img)")
    p.add_argument('--stride', type=int, default=10,
                   help='frames between two fine features (paper: 10)')
    p.add_argument('--spatial-size', type=int, default=7,
                   help='space pooled to s x s (public code: 7)')
    p.add_argument('--max-frames', type=int, default=None,
                   help='cap on frames per video (public code: 128)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available()
                   else 'cpu')
    return p.parse_args(argv)


def build(args):
    import mmdtf  # noqa: F401  (registers our modules)
    from mmaction.registry import DATASETS, MODELS
    from mmengine.dataset import Compose
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    ds_cfg = cfg.test_dataloader.dataset.copy()
    if args.ann_file:
        ds_cfg.ann_file = args.ann_file
    if args.data_prefix:
        ds_cfg.data_prefix = dict(img=args.data_prefix)
    ds_cfg.fine_feature_prefix = None
    ds_cfg.pipeline = []
    dataset = DATASETS.build(ds_cfg)
    pipeline = Compose([t for t in cfg.test_dataloader.dataset.pipeline
                        if t['type'] not in SKIPPED])
    model = MODELS.build(cfg.model)
    if args.checkpoint != 'none':
        load_checkpoint(model, args.checkpoint, map_location='cpu')
    if not hasattr(model.backbone, 'forward_levels'):
        raise TypeError(f'{args.config}: model.backbone must be '
                        'X3DCoarseFine (it has forward_levels)')
    model.to(args.device).eval()
    return dataset, pipeline, model


@torch.no_grad()
def extract(info, pipeline, model, args):
    inds = np.arange(0, info['total_frames'], args.stride)
    if args.max_frames:
        inds = inds[:args.max_frames]
    results = dict(info, frame_inds=inds + info.get('start_index', 0),
                   clip_len=len(inds), frame_interval=args.stride,
                   num_clips=1)
    imgs = torch.as_tensor(pipeline(results)['imgs']).float()
    if imgs.dim() == 5:  # (num_clips, C, T, H, W) from FormatShape
        imgs = imgs[0]
    batch = model.data_preprocessor(
        dict(inputs=[imgs.unsqueeze(0)], data_samples=None), False)['inputs']
    levels = model.backbone.forward_levels(batch[:, 0])
    s = args.spatial_size
    return [F.adaptive_avg_pool3d(v, (v.shape[2], s, s))[0].cpu().numpy()
            for v in levels]


def main(argv=None):
    args = parse_args(argv)
    dataset, pipeline, model = build(args)
    os.makedirs(args.out_dir, exist_ok=True)
    done = 0
    for i in track(range(len(dataset)), desc='videos'):
        info = dataset.get_data_info(i)
        path = osp.join(args.out_dir, f"{info['video_id']}.npz")
        if not osp.exists(path):  # resume: finished videos are skipped
            write_fine_features(path, extract(info, pipeline, model, args),
                                args.stride)
            done += 1
    print(f'{done} extracted, {len(dataset) - done} already there '
          f'-> {args.out_dir}', file=sys.stderr)


if __name__ == '__main__':
    main()
