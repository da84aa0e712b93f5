"""The choice of FA backend (``dispatch.choose_backend``, the one place it is
made) without a working CuPy: on CUDA tensors ``backend='auto'`` falls back
to the PyTorch path with one warning naming the fix, ``backend='cupy'``
fails naming it; the ``'auto'`` choice is logged once. These need no CuPy
(it is hidden), so they run everywhere: with a real CUDA tensor on a GPU,
and on a CPU with a tensor that reports itself as CUDA (the dispatcher's
device check is all that differs). The CuPy kernels themselves are tested
in test_frame_aggregation_cuda.py."""
import sys
import warnings

import pytest
import torch

from mmdtf.ops import frame_aggregation
from mmdtf.ops.frame_aggregation import choose_backend, cupy_kernel, dispatch


class TensorClaimingCuda(torch.Tensor):
    """A CPU tensor whose ``is_cuda`` says True: the dispatcher then takes
    the CUDA branch, which is what these tests are about."""

    @property
    def is_cuda(self):
        return True


@pytest.fixture(autouse=True)
def fresh_memory(monkeypatch):
    """Nothing warned or logged yet in this process."""
    monkeypatch.setattr(dispatch, '_warned_fallback', set())
    monkeypatch.setattr(dispatch, '_logged_choices', set())


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', None)  # import -> ImportError


@pytest.fixture(params=['claims_cuda',
                        pytest.param('cuda', marks=pytest.mark.cuda)])
def cuda_input_without_cupy(request, no_cupy):
    """A (N, C, T, H, W) input on CUDA (or claiming so), with ``import
    cupy`` failing."""
    x = torch.randn(2, 4, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    if request.param == 'cuda':
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
    assert cupy_kernel.install_hint() in msg
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
    assert cupy_kernel.install_hint() in msg
    assert '`dtf_cfg.backend`' in msg


def test_auto_choice_is_logged_once(monkeypatch, no_cupy, recwarn):
    logged = []
    monkeypatch.setattr(dispatch, 'print_log',
                        lambda msg, **kwargs: logged.append(msg))
    for _ in range(3):
        assert choose_backend('cpu', None, 'auto') == 'cpp'
        assert choose_backend('cuda', 0, 'auto') == 'torch'
        assert choose_backend('cuda', 0, 'torch') == 'torch'  # not logged
    assert logged == [
        "frame_aggregation: backend='auto' runs the fused C++ kernel on cpu "
        'tensors',
        "frame_aggregation: backend='auto' runs the slower pure-PyTorch path "
        'on cuda tensors']


def test_cupy_on_cpu_tensors_is_refused():
    with pytest.raises(RuntimeError, match="backend='cupy' needs a CUDA "
                       'tensor, got a tensor on cpu'):
        choose_backend('cpu', None, 'cupy')


@pytest.mark.parametrize('cuda,extra', [('12.8', "'mmdtf[cuda12]'"),
                                        ('13.0', "'mmdtf[cuda13]'"),
                                        (None, "'mmdtf[cuda12]' or "
                                               "'mmdtf[cuda13]'")])
def test_install_hint_names_the_extra_of_pytorchs_cuda(monkeypatch, cuda,
                                                       extra):
    monkeypatch.setattr(torch.version, 'cuda', cuda)
    assert cupy_kernel.install_hint().startswith(f'pip install {extra}')
