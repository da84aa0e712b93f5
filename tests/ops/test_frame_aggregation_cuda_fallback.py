"""Frame-wise Aggregation on CUDA tensors without CuPy: ``backend='auto'``
falls back to the PyTorch path with one warning naming the fix, and
``backend='cupy'`` fails naming it. These need no CuPy (it is hidden), so they
run everywhere: on a GPU with a real CUDA tensor, on a CPU with a tensor that
reports itself as CUDA (the dispatcher's device check is all that differs).
The CuPy kernels themselves are tested in test_frame_aggregation_cuda.py."""
import importlib
import sys
import warnings

import pytest
import torch

from mmdtf.ops import frame_aggregation

# the module (the package exports the function under the same name)
fa_module = importlib.import_module('mmdtf.ops.frame_aggregation')


class TensorClaimingCuda(torch.Tensor):
    """A CPU tensor whose ``is_cuda`` says True: the dispatcher then takes
    the CUDA branch, which is what these tests are about."""

    @property
    def is_cuda(self):
        return True


@pytest.fixture
def cuda_input_without_cupy(monkeypatch):
    """A (N, C, T, H, W) input on CUDA (or claiming so on a CPU machine),
    with ``import cupy`` failing and the warn-once memory cleared."""
    monkeypatch.setitem(sys.modules, 'cupy', None)  # import -> ImportError
    monkeypatch.setattr(fa_module, '_warned_fallback', set())
    x = torch.randn(2, 4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    if torch.cuda.is_available():
        return x.cuda()
    return x.as_subclass(TensorClaimingCuda)


def test_auto_falls_back_to_torch_with_one_warning(cuda_input_without_cupy):
    x = cuda_input_without_cupy
    assert x.is_cuda
    with pytest.warns(RuntimeWarning) as record:
        y, corr = frame_aggregation(x, 3)
    assert len(record) == 1
    msg = str(record[0].message)
    assert 'pure-PyTorch path on CUDA' in msg
    assert 'CuPy is not installed' in msg
    assert 'pip install mmdtf[cuda]' in msg
    assert record[0].filename == __file__  # points at the caller
    y_ref, corr_ref = frame_aggregation(x, 3, backend='torch')
    assert torch.equal(y, y_ref) and torch.equal(corr, corr_ref)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # warned once: no second warning
        frame_aggregation(x, 3)


def test_forced_cupy_backend_names_reason_and_fix(cuda_input_without_cupy):
    with pytest.raises(RuntimeError) as info:
        frame_aggregation(cuda_input_without_cupy, 3, backend='cupy')
    msg = str(info.value)
    assert "backend='cupy' cannot run: CuPy is not installed" in msg
    assert 'pip install mmdtf[cuda]' in msg
    assert '`dtf_cfg.backend`' in msg
