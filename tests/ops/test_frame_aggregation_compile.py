"""FA as registered operators (mmdtf::frame_aggregation and its backward)
with its PyTorch kernel: torch.library's own checks (schema, fake
implementation, autograd registration) for every memory layout the op
walks, a kernel per device, and the op under torch.compile: the traced
graph keeps it as one node, with the values and gradients of eager mode,
and the backend choice is no part of the trace. The CuPy kernel's
registration is checked on CPU in test_cuda_sources.py (through the host
emulation of its kernels) and on a GPU in test_frame_aggregation_cuda.py."""
import sys

import pytest
import torch

from mmdtf.ops import frame_aggregation
from mmdtf.ops.frame_aggregation import (choose_backend,
                                         frame_aggregation_backward_op,
                                         frame_aggregation_op)
from mmdtf.ops.frame_aggregation.custom_op import kernel_for
from mmdtf.testing import \
    naive_frame_aggregation as reference_frame_aggregation

SHAPE = (2, 6, 4, 5, 3)  # N, C, T, H, W


def laid_out(kind, dtype=torch.float64, requires_grad=False):
    """A (N, C, T, H, W) tensor stored as the layouts FA walks."""
    torch.manual_seed(0)
    n, c, t, h, w = SHAPE
    if kind == 'frames':  # ResNetDTF: (N, T, C, H, W) memory
        x = torch.randn(n, t, c, h, w, dtype=dtype).transpose(1, 2)
    elif kind == 'channels_last':  # SwinDTF: (N, T, H, W, C) memory
        x = torch.randn(n, t, h, w, c, dtype=dtype).permute(0, 4, 1, 2, 3)
    elif kind == 'standard':
        x = torch.randn(*SHAPE, dtype=dtype)
    else:  # anything else: copied into the standard layout
        x = torch.randn(n, c, h, t, w, dtype=dtype).transpose(2, 3)
    return x.requires_grad_(requires_grad)


@pytest.mark.parametrize('kind',
                         ['frames', 'channels_last', 'standard', 'other'])
@pytest.mark.parametrize('dtype', [torch.float64, torch.bfloat16])
def test_opcheck(kind, dtype):
    """Schema, fake tensors (the shapes and strides torch.compile plans
    with), autograd registration and dispatch, by torch.library.opcheck."""
    x = laid_out(kind, dtype, requires_grad=True)
    torch.library.opcheck(frame_aggregation_op, (x, 3, 'torch'))
    y, corr = frame_aggregation_op(x.detach(), 3, 'torch')
    grad_y, grad_corr = torch.randn_like(y), torch.randn_like(corr)
    for gy, gc in ((grad_y, grad_corr), (None, grad_corr), (grad_y, None)):
        torch.library.opcheck(frame_aggregation_backward_op,
                              (gy, gc, x.detach(), corr, 3, 'torch'))


@pytest.mark.parametrize('kind', ['frames', 'channels_last', 'standard'])
def test_fake_outputs_match_real_ones(kind):
    from torch._subclasses.fake_tensor import FakeTensorMode
    x = laid_out(kind, torch.float16)
    y, corr = frame_aggregation_op(x, 3, 'torch')
    with FakeTensorMode() as mode:
        fake_y, fake_corr = frame_aggregation_op(mode.from_tensor(x), 3,
                                                 'torch')
    for real, fake in ((y, fake_y), (corr, fake_corr)):
        assert (fake.shape, fake.stride(), fake.dtype) == (
            real.shape, real.stride(), real.dtype)
    assert corr.dtype == torch.float32  # saved for the backward's softmax


@pytest.mark.parametrize('kind', ['frames', 'channels_last'])
def test_compiled_matches_eager_values_and_gradients(kind):
    """aot_eager: dynamo and AOT autograd (what inductor builds on) without
    C++ compilation. One graph, FA in it as one node of each direction; the
    values of the naive reference and eager mode's gradients."""
    x = laid_out(kind, requires_grad=True)

    def fn(x):
        y, corr = frame_aggregation(x, 3)
        return (y * y).sum() + (corr * corr.tanh()).sum()

    explained = torch._dynamo.explain(fn)(x)
    assert explained.graph_break_count == 0
    assert explained.graph_count == 1
    targets = [str(node.target) for graph in explained.graphs
               for node in graph.graph.nodes]
    assert targets.count('mmdtf.frame_aggregation.default') == 1

    torch._dynamo.reset()
    compiled = torch.compile(fn, backend='aot_eager', fullgraph=True)
    loss = compiled(x)
    (grad, ) = torch.autograd.grad(loss, x)
    y_ref, corr_ref = reference_frame_aggregation(x, 3)
    loss_ref = (y_ref * y_ref).sum() + (corr_ref * corr_ref.tanh()).sum()
    (grad_ref, ) = torch.autograd.grad(loss_ref, x)
    torch.testing.assert_close(loss, loss_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-10, atol=1e-10)


def test_a_kernel_per_device():
    """One operator, registered with a CPU and a CUDA kernel (the CUDA one
    runs the CuPy kernels or, asked for 'torch', the PyTorch path)."""
    for name in ('mmdtf::frame_aggregation',
                 'mmdtf::frame_aggregation_backward'):
        for key in ('CPU', 'CUDA'):
            assert torch._C._dispatch_has_kernel_for_dispatch_key(name, key)
    assert kernel_for('cuda', 'cupy') is not kernel_for('cuda', 'torch')
    assert kernel_for('cpu', 'torch') is kernel_for('cuda', 'torch')
    with pytest.raises(RuntimeError, match="no 'cupy' kernel for cpu"):
        frame_aggregation_op(torch.randn(1, 2, 2, 3, 3), 3, 'cupy')


def test_backend_choice_is_no_part_of_the_trace(monkeypatch, recwarn):
    """On CUDA, 'auto' probes CuPy, warns and logs: torch.compile takes its
    choice as a constant instead of tracing it (no graph break)."""
    monkeypatch.setitem(sys.modules, 'cupy', None)  # `import cupy` fails

    def fn(x):
        return x * (2 if choose_backend('cuda', 0, 'auto') == 'torch' else 3)

    explained = torch._dynamo.explain(fn)(torch.ones(2))
    assert explained.graph_break_count == 0 and explained.graph_count == 1
    torch._dynamo.reset()
    assert torch.equal(torch.compile(fn, fullgraph=True)(torch.ones(2)),
                       torch.full((2, ), 2.))
