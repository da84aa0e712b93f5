"""The fine-feature file of Coarse-Fine Networks: ``<id>.npz`` with one
float16 (C, Tf, h, w) array per level of the fine stream and ``stride``
(feature j is frame j * stride). ``tools/data/extract_fine_features.py`` writes
it, ``LoadFineFeatures`` reads it."""
import os
from typing import List, Sequence, Tuple

import numpy as np

# The fine stream's levels, in the order X3DCoarseFine.forward_levels
# returns them and the fusion consumes them (layer1..layer4: Multi-stage
# Fusion; conv5: the logit-level fusion of PerFrameMultiLabelHead).
FINE_LEVELS = ('layer1', 'layer2', 'layer3', 'layer4', 'conv5')


def write_fine_features(path: str, levels: Sequence[np.ndarray],
                        stride: int) -> None:
    """Writes one array per level of FINE_LEVELS atomically: a reader (or a
    resumed extraction) never sees a half-written ``path``."""
    if len(levels) != len(FINE_LEVELS):
        raise ValueError(f'{len(levels)} levels given, expected '
                         f'{len(FINE_LEVELS)} ({", ".join(FINE_LEVELS)})')
    tmp = path[:-4] + '.part.npz'
    np.savez(tmp, stride=stride, **{
        name: np.asarray(level, np.float16)
        for name, level in zip(FINE_LEVELS, levels)})
    os.replace(tmp, path)


def read_fine_features(path: str) -> Tuple[List[np.ndarray], float]:
    """(float32 arrays in FINE_LEVELS order, stride) from ``path``."""
    with np.load(path) as f:
        missing = [k for k in FINE_LEVELS + ('stride', ) if k not in f]
        if missing:
            raise KeyError(f'{path} lacks {missing} (written by '
                           'tools/data/extract_fine_features.py?)')
        return ([f[k].astype(np.float32) for k in FINE_LEVELS],
                float(f['stride']))
