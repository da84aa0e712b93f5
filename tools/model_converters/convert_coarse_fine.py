#!/usr/bin/env python
"""Convert a public Coarse-Fine Networks checkpoint
(kkahatapitiya/Coarse-Fine-Networks: ``coarse_fineFEAT_charades_*.pt``, the
fine stream's ``fine_charades_*.pt``) into an mmdtf checkpoint for
``configs/coarse_fine/`` (``mim test --checkpoint``, or ``load_from``).

    python tools/model_converters/convert_coarse_fine.py \\
      models/coarse_fineFEAT_charades_019000_SAVE.pt \\
      work_dirs/coarse-fine_public.pth

The layout and what is computed rather than renamed (sub-batch-norm
statistics, Grid Pool's conv biases) are in
mmdtf/models/weights/coarse_fine.py; docs/models/coarse_fine.md lists what the
converted model still computes differently.
"""
import argparse

import torch

from mmdtf.models.weights.coarse_fine import (convert_coarse_fine,
                                              read_public_checkpoint)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='public checkpoint (.pt)')
    p.add_argument('dst', help='mmdtf checkpoint to write (.pth)')
    args = p.parse_args(argv)
    state = convert_coarse_fine(read_public_checkpoint(args.src))
    torch.save(dict(state_dict=state,
                    meta=dict(converted_from=args.src)), args.dst)
    print(f'{args.src} -> {args.dst}: {len(state)} tensors')


if __name__ == '__main__':
    main()
