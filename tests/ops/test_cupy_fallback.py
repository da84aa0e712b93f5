"""The CUDA path of frame_aggregation without (working) CuPy: `auto` falls
back to PyTorch with a warning saying why, `cupy` says how to fix it. Run on
CPU with a stand-in for a CUDA tensor: only `is_cuda` and `device` are read
before the backend is chosen."""
import importlib
import sys
import types

import pytest
import torch

fa_module = importlib.import_module('mmdtf.ops.frame_aggregation')

CUPY_MODULE = 'mmdtf.ops.frame_aggregation_cupy'


def cuda_tensor():
    return types.SimpleNamespace(is_cuda=True, device=torch.device('cuda', 0))


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(fa_module, '_warned_fallback', set())


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', None)  # `import cupy` fails


@pytest.fixture
def torch_before_2_4(monkeypatch):
    """torch 2.1-2.3 have no torch.amp.custom_fwd/custom_bwd: the CuPy module
    then fails at import, before CuPy is looked at."""
    monkeypatch.delitem(sys.modules, CUPY_MODULE, raising=False)
    monkeypatch.delattr(torch.amp, 'custom_fwd')
    monkeypatch.delattr(torch.amp, 'custom_bwd')


def test_auto_without_cupy_falls_back_with_the_reason(no_cupy):
    with pytest.warns(RuntimeWarning, match='CuPy is not installed'):
        assert fa_module._resolve_backend(cuda_tensor(), 'auto') == 'torch'


def test_cupy_without_cupy_says_how_to_install(no_cupy):
    with pytest.raises(RuntimeError, match=r'mmdtf\[cuda\]') as error:
        fa_module._resolve_backend(cuda_tensor(), 'cupy')
    assert 'CuPy is not installed' in str(error.value)


def test_broken_cupy_module_import_falls_back(torch_before_2_4):
    with pytest.raises(AttributeError):  # what used to reach every user
        __import__(CUPY_MODULE)
    with pytest.warns(RuntimeWarning, match='failed to import'):
        assert fa_module._resolve_backend(cuda_tensor(), 'auto') == 'torch'
    with pytest.raises(RuntimeError, match='custom_fwd'):
        fa_module._resolve_backend(cuda_tensor(), 'cupy')
