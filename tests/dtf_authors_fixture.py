"""The fixtures made with the authors' DTF code (tests/fixtures/dtf_authors/,
docs/models/dtf_blocks.md says how) and the random weights of their networks.

A whole network's weights would not fit a small fixture, so the network
fixtures hold the authors' key list (names, shapes, dtypes, from their model
code) and the buffers their code builds, and every other value is drawn here
from NumPy's legacy ``RandomState`` (its streams are frozen across NumPy
versions) seeded by the key: the program that made the fixture drew the same
values with this module.
"""
import zlib
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'dtf_authors'
KeyList = List[Tuple[str, Tuple[int, ...], str]]


def load_fixture(name: str) -> Dict:
    return torch.load(FIXTURES / name, map_location='cpu', weights_only=True)


def _rng(key: str, seed: int) -> np.random.RandomState:
    return np.random.RandomState((zlib.crc32(key.encode()) + seed) % 2**32)


def seeded_value(key: str, shape: Tuple[int, ...], seed: int,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A random value for the authors' parameter or buffer ``key`` of
    ``shape``, scaled so that a deep network stays in range in eval mode
    too (where random running statistics normalise nothing): weights
    ~ N(0, gain^2 / fan_in) with gain sqrt(2) before a ReLU, norm scales
    near 1 (near 0.3 at the end of a residual branch, ``bn3``), shifts and
    running means near 0, running variances in [0.5, 1.5], their DTF
    block's ``alpha1`` and ``bias`` well away from their zero init."""
    rng = _rng(key, seed)
    name = key.rsplit('.', 1)[-1]
    if name == 'num_batches_tracked':
        return torch.tensor(int(rng.randint(1, 1000)), dtype=torch.long)
    if name == 'weights_cor':  # frozen at 1 / C in their code
        return torch.full(shape, 1. / shape[0], dtype=dtype)
    if name == 'running_var':
        value = rng.uniform(0.5, 1.5, size=shape)
    elif name == 'running_mean':
        value = 0.1 * rng.standard_normal(shape)
    elif name == 'alpha1':
        value = 0.3 * rng.standard_normal(shape)
    elif name == 'relative_position_bias_table':
        value = 0.5 * rng.standard_normal(shape)
    elif len(shape) == 1 and name == 'weight':  # BN / LayerNorm scales
        value = 1 + 0.1 * rng.standard_normal(shape)
        if key.endswith('bn3.weight'):
            value = 0.3 * value
    elif name == 'bias':
        value = 0.1 * rng.standard_normal(shape)
    else:
        fan_in = int(np.prod(shape[1:]))
        module = key.rsplit('.', 2)[-2] if name == 'weight' else name
        # convolutions before a ReLU: sqrt(2); before a residual sum, their
        # DTF estimator and mixing, and linear layers: less
        gain = {'filter_g': 0.5, 'complex_weight': 1., 'conv3': 1.,
                '0': 1.}.get(module, 2**0.5 if len(shape) > 2 else 1.)
        value = gain / fan_in**0.5 * rng.standard_normal(shape)
    return torch.from_numpy(np.asarray(value, dtype=np.float64)).to(dtype)


def seeded_state_dict(keys: KeyList, buffers: Dict[str, torch.Tensor],
                      seed: int,
                      dtype: torch.dtype = torch.float64) -> Dict:
    """The authors' state dict: ``buffers`` as given, every other key of
    ``keys`` drawn by :func:`seeded_value`."""
    state = {}
    for key, shape, _ in keys:
        state[key] = (buffers[key] if key in buffers else
                      seeded_value(key, tuple(shape), seed, dtype))
    return state


def seeded_input(shape: Tuple[int, ...], seed: int,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    value = np.random.RandomState(seed).standard_normal(shape)
    return torch.from_numpy(value).to(dtype)
