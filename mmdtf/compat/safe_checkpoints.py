"""Let MMEngine checkpoints load under PyTorch's ``weights_only`` loading.

Upstream: open-mmlab/mmengine#1655 (PR #1650 would pass
``weights_only=False`` instead, which lets a checkpoint run code). Affects:
MMEngine <= 0.10.7 with PyTorch >= 2.6. Detected by probing: a small
MMEngine-style checkpoint (a ``MessageHub`` state with numpy values) is
saved and loaded with ``torch.load``'s defaults; only if that fails is
anything allow-listed.

PyTorch >= 2.6 loads with ``weights_only=True``: only allow-listed globals
may appear in the pickle. An MMEngine 0.10 checkpoint holds, besides tensors,
the ``MessageHub`` state: ``HistoryBuffer`` objects (numpy arrays and scalars
inside) whose statistics methods are pickled as
``getattr(HistoryBuffer, 'mean')``.

We allow exactly those, and keep the risky ones narrow: ``getattr`` is
allowed only as a look-up of a ``HistoryBuffer`` statistics method, and numpy
arrays and scalars only of plain (non-object) dtypes. Safe loading stays on
for everything else; we never set ``weights_only=False``.
"""
import builtins
import io
import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray

# numpy 1 writes numpy.core.*, numpy 2 numpy._core.*: accept both.
_NUMPY_CORES = ('numpy.core.multiarray', 'numpy._core.multiarray')


# Registered by every HistoryBuffer (its class dict fills on first use).
_DEFAULT_STATISTICS = {'min', 'max', 'current', 'mean'}


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to a ``HistoryBuffer``'s statistics methods."""
    # The buffers keep their statistics as HistoryBuffer.min etc., which
    # pickle as getattr(HistoryBuffer, 'min').
    is_buffer = obj is HistoryBuffer or isinstance(obj, HistoryBuffer)
    allowed = _DEFAULT_STATISTICS | set(HistoryBuffer._statistics_methods)
    if is_buffer and name in allowed:
        return builtins.getattr(obj, name)
    what = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    raise pickle_error(f'getattr({what}, {name!r})')


def _plain_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.hasobject:  # object arrays would unpickle arbitrary objects
        raise pickle_error(f'a numpy array of dtype {dtype}')
    return dtype


def numpy_scalar(dtype: Any, *args: Any) -> Any:
    """``numpy`` scalar reconstruction, plain dtypes only."""
    return _multiarray.scalar(_plain_dtype(dtype), *args)


def numpy_reconstruct(cls: type, shape: Any, dtype: Any) -> np.ndarray:
    """``numpy`` array reconstruction, plain dtypes only."""
    if cls is not np.ndarray:
        raise pickle_error(f'a numpy array of class {cls!r}')
    return _multiarray._reconstruct(cls, shape, _plain_dtype(dtype))


def pickle_error(what: str) -> Exception:
    return torch.serialization.pickle.UnpicklingError(
        f'Refusing to load {what}: not part of an MMEngine checkpoint, and '
        'weights_only loading (on, to keep checkpoints from running code) '
        'does not allow it.')


def _numpy_dtype_classes() -> list:
    # numpy 2 pickles dtypes by class (numpy.dtypes.Float32DType, ...).
    kinds = '?bBhHiIlLqQefdgFDG'
    return [type(np.dtype(kind)) for kind in kinds] + [np.dtype]


UPSTREAM = 'open-mmlab/mmengine#1655'
AFFECTS = 'torch >= 2.6 (weights_only=True by default) with mmengine <= 0.10.7'
_applied = False


def defect_present() -> bool:
    """Whether ``torch.load`` (defaults) refuses an MMEngine checkpoint."""
    buffer = HistoryBuffer()
    buffer.update(np.float64(1.0))
    checkpoint = dict(meta=dict(seed=np.int64(0)),
                      message_hub=dict(log_scalars={'loss': buffer}))
    file = io.BytesIO()
    torch.save(checkpoint, file)
    file.seek(0)
    try:
        torch.load(file)
    except pickle.UnpicklingError:
        return True
    return False


def apply() -> bool:
    """Allow-list what MMEngine checkpoints contain, if ``torch.load``
    refuses them (idempotent); returns whether the allow-list is in place."""
    global _applied
    if _applied:
        return True
    if not defect_present():
        return False
    _applied = True
    torch.serialization.add_safe_globals([
        HistoryBuffer,
        np.ndarray,
        *_numpy_dtype_classes(),
        (history_buffer_getattr, 'builtins.getattr'),
        *[(numpy_scalar, f'{core}.scalar') for core in _NUMPY_CORES],
        *[(numpy_reconstruct, f'{core}._reconstruct')
          for core in _NUMPY_CORES],
    ])
    return True
