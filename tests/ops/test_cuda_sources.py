"""CPU-side checks of the CUDA kernel sources in ``ops/``.

- Every ``ops/*.cu`` compiles with nvcc to PTX (and through ptxas to a cubin,
  which checks the inline PTX), all templates instantiated; skipped without
  nvcc.
- The kernels' logic (indexing, padding, softmax, both backward terms, dtype
  conversions) runs on the CPU: a host C++ compiler builds the .cu file with
  the CUDA keywords defined away and a serial loop over a small grid in place
  of a launch. The kernels use no shared memory, atomics or inter-thread
  communication, so serial execution is exact. Inputs and outputs sit inside
  NaN-filled guard bands, so an out-of-bounds read or an unwritten output
  shows up as NaN. Skipped without a C++ compiler.
- The CuPy kernel as the CUDA kernel of the registered operator: with a
  stand-in for CuPy that launches the emulated kernels, the op runs its CuPy
  kernel on CPU tensors (``torch.library.opcheck``: schema, exact fake
  outputs, autograd; values and gradients; stream, device and launch
  arguments).
- The CuPy availability reason and the kernel-source lookup.
"""
import ctypes
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from mmdtf.ops import frame_aggregation
from mmdtf.ops.frame_aggregation import custom_op
from mmdtf.ops.frame_aggregation import cupy_kernel as fac
from mmdtf.ops.frame_aggregation import frame_aggregation_op

OPS_DIR = Path(__file__).resolve().parents[2] / 'ops'
CU_FILES = sorted(OPS_DIR.glob('*.cu'))
NVCC = shutil.which('nvcc')
CXX = shutil.which('g++') or shutil.which('c++') or shutil.which('clang++')
KERNEL_SIZES = (1, 3, 5, 7)
EMU_TYPES = {torch.float64: 'double', torch.float32: 'float',
             torch.float16: 'fa_half', torch.bfloat16: 'fa_bf16'}


def test_kernel_sources_exist():
    assert (OPS_DIR / fac.KERNEL_FILE) in CU_FILES
    assert fac.kernel_source_path() == (OPS_DIR / fac.KERNEL_FILE).resolve()


def test_requested_kernels_are_defined():
    """The loader's name expressions name templates the source defines."""
    src = (OPS_DIR / fac.KERNEL_FILE).read_text()
    for name in fac.KERNEL_NAMES:
        assert re.search(r'__global__ void ' + name + r'\(', src), name
    for dtype, cuda_name in fac.CUDA_TYPE_NAMES.items():
        assert cuda_name in ('double', 'float') or (
            f'struct {cuda_name} ' in src), cuda_name
        assert fac.name_expressions(dtype, 5)[0] == (
            f'fa_forward<{cuda_name}, 5>')
    assert '#include' not in re.sub(r'//.*', '', src), (
        'the kernels must compile under NVRTC without headers')


def test_missing_source_names_the_directory(monkeypatch, tmp_path):
    import mmdtf.utils.resources as resources
    monkeypatch.setattr(resources, 'resource_dir', lambda name: tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        fac.kernel_source_path()
    assert str(tmp_path) in str(info.value)
    assert fac.KERNEL_FILE in str(info.value)


def test_resource_dir_names_both_places(monkeypatch, tmp_path):
    import mmdtf.utils.resources as resources
    monkeypatch.setattr(resources, 'PACKAGE_DIR', tmp_path / 'pkg')
    monkeypatch.setattr(resources, 'REPO_DIR', tmp_path / 'repo')
    with pytest.raises(FileNotFoundError) as info:
        resources.resource_dir('ops')
    assert str(tmp_path / 'pkg' / '.mim' / 'ops') in str(info.value)
    assert str(tmp_path / 'repo' / 'ops') in str(info.value)


def test_reason_without_cupy():
    try:
        import cupy  # noqa: F401
    except ImportError:
        reason = fac.cupy_unavailable_reason(torch.device('cuda', 0))
        assert reason.startswith('CuPy is not installed')
    else:  # with CuPy, a CPU device is still refused with a reason
        assert 'CUDA' in fac.cupy_unavailable_reason(torch.device('cpu'))


@pytest.mark.slow  # nvcc in a subprocess: a minute per file
@pytest.mark.skipif(NVCC is None, reason='nvcc is not on PATH')
@pytest.mark.parametrize('cu', CU_FILES, ids=lambda p: p.name)
def test_nvcc_compiles(cu, tmp_path):
    base = [NVCC, '-std=c++17', '-DMMDTF_INSTANTIATE_ALL', str(cu)]
    ptx = tmp_path / 'out.ptx'
    run = subprocess.run(base + ['--ptx', '-arch=compute_80', '-o', str(ptx)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    entries = re.findall(r'\.entry\s+(\w+)', ptx.read_text())
    if cu.name == fac.KERNEL_FILE:  # every kernel x dtype x size is compiled
        assert len(entries) == (len(fac.KERNEL_NAMES) * len(EMU_TYPES)
                                * len(KERNEL_SIZES)), entries
    # ptxas: catches invalid inline PTX, which --ptx does not look at
    run = subprocess.run(base + ['-cubin', '-arch=sm_80', '-o',
                                 str(tmp_path / 'out.cubin')],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


# The host emulation harness: plain C++ around the .cu file.
HARNESS = r'''
#include <cstring>
#include <math.h>
#define __global__
#define __device__
#define __forceinline__ inline
#define FA_HOST_EMULATION
struct fa_dim3 { unsigned x, y, z; };
static fa_dim3 blockIdx, blockDim, threadIdx, gridDim;
#include "frame_aggregation.cu"

template <typename F>
static void emulate(int grid, int block, F f) {
  gridDim.x = grid; blockDim.x = block;
  for (int b = 0; b < grid; ++b)
    for (int t = 0; t < block; ++t) {
      blockIdx.x = b; threadIdx.x = t;
      f();
    }
}

#define SHAPE int N, int C, int T, int H, int W, long long sn, long long sc, \
    long long st
#define EMU(S, K)                                                           \
extern "C" void fwd_##S##_##K(const void* x, void* y, void* c, SHAPE,       \
    int grid, int block) {                                                  \
  emulate(grid, block, [&] { fa_forward<S, K>((const S*)x, (S*)y, (S*)c,    \
                                              N, C, T, H, W, sn, sc, st); });\
}                                                                           \
extern "C" void bwd1_##S##_##K(const void* x, const void* gy,               \
    const void* gc, void* a, void* g, SHAPE, int grid, int block) {         \
  typedef fa_traits<S>::acc_t A;                                            \
  emulate(grid, block, [&] { fa_backward_logits<S, K>((const S*)x,          \
      (const S*)gy, (const S*)gc, (A*)a, (A*)g, N, C, T, H, W, sn, sc,      \
      st); });                                                              \
}                                                                           \
extern "C" void bwd2_##S##_##K(const void* x, const void* gy,               \
    const void* a, const void* g, void* gx, SHAPE, int grid, int block) {   \
  typedef fa_traits<S>::acc_t A;                                            \
  emulate(grid, block, [&] { fa_backward_input<S, K>((const S*)x,           \
      (const S*)gy, (const A*)a, (const A*)g, (S*)gx, N, C, T, H, W, sn,    \
      sc, st); });                                                          \
}
#define EMU_K(S) EMU(S, 1) EMU(S, 3) EMU(S, 5) EMU(S, 7)
EMU_K(double) EMU_K(float) EMU_K(fa_bf16)
#ifndef FA_EMULATE_NO_HALF
EMU_K(fa_half)
#endif
'''
HALF_MISSING = 'the host compiler lacks _Float16: no float16 emulation'


@pytest.fixture(scope='module')
def emu(tmp_path_factory):
    if CXX is None:
        pytest.skip('no C++ compiler for the host emulation')
    d = tmp_path_factory.mktemp('fa_emu')
    (d / 'harness.cpp').write_text(HARNESS)
    lib = d / 'libfa_emu.so'
    command = [CXX, '-std=c++17', '-O1', '-shared', '-fPIC', '-I',
               str(OPS_DIR), str(d / 'harness.cpp'), '-o', str(lib)]
    run = subprocess.run(command, capture_output=True, text=True)
    has_half = run.returncode == 0 or '_Float16' not in run.stderr
    if not has_half:  # only the float16 kernels need it: emulate the others
        run = subprocess.run(command + ['-DFA_EMULATE_NO_HALF'],
                             capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    cdll = ctypes.CDLL(str(lib))
    cdll.has_half = has_half
    return cdll


def _needs_half(lib, dtype):
    if dtype == torch.float16 and not lib.has_half:
        pytest.skip(HALF_MISSING)


def _guarded(shape, dtype, fill=None, frames_outermost=False):
    """A tensor inside a NaN guard band as long as itself on both sides;
    stored contiguous, or as (N, T, C, H, W) memory."""
    numel = math.prod(shape)
    pad = max(numel, 64)
    buf = torch.full((2 * pad + numel, ), float('nan'), dtype=dtype)
    if frames_outermost:
        n, c, t, h, w = shape
        view = buf[pad:pad + numel].view(n, t, c, h, w).transpose(1, 2)
    else:
        view = buf[pad:pad + numel].view(shape)
    if fill is not None:
        view.copy_(fill)
    return buf, view, pad


def _guard_intact(buf, pad):
    return bool(buf[:pad].isnan().all() and buf[-pad:].isnan().all())


def _p(t):
    return ctypes.c_void_p(t.data_ptr() if t is not None else 0)


GRID = (3, 5)  # 15 emulated threads: every thread runs the grid-stride loop


def _shape(x):
    """The kernels' size and (N, C, T) stride arguments for ``x``."""
    return (*x.shape, *(ctypes.c_longlong(s) for s in x.stride()[:3]))


def emu_forward(lib, x, k, frames_outermost=False):
    n, c, t, h, w = x.shape
    name = EMU_TYPES[x.dtype]
    bx, xg, px = _guarded(x.shape, x.dtype, x, frames_outermost)
    by, y, py = _guarded(x.shape, x.dtype, None, frames_outermost)
    bc, corr, pc = _guarded((n, k * k, t, h, w), x.dtype)
    getattr(lib, f'fwd_{name}_{k}')(_p(xg), _p(y), _p(corr), *_shape(xg),
                                    *GRID)
    assert _guard_intact(by, py) and _guard_intact(bc, pc)
    assert _guard_intact(bx, px)
    return y.clone(), corr.clone()


def emu_backward(lib, x, k, grad_y, grad_corr, frames_outermost=False):
    """grad_y or grad_corr may be None (the kernels' null-pointer paths)."""
    n, c, t, h, w = x.shape
    name = EMU_TYPES[x.dtype]
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    _, xg, _ = _guarded(x.shape, x.dtype, x, frames_outermost)
    gy = gc = None
    if grad_y is not None:
        _, gy, _ = _guarded(x.shape, x.dtype, grad_y, frames_outermost)
    if grad_corr is not None:
        _, gc, _ = _guarded(grad_corr.shape, x.dtype, grad_corr)
    ba, attn, pa = _guarded((n, k * k, t - 1, h, w), acc)
    bg, glogit, pg = _guarded((n, k * k, t - 1, h, w), acc)
    bx, gx, px = _guarded(x.shape, x.dtype, None, frames_outermost)
    if t > 1:
        getattr(lib, f'bwd1_{name}_{k}')(_p(xg), _p(gy), _p(gc), _p(attn),
                                         _p(glogit), *_shape(xg), *GRID)
        assert _guard_intact(ba, pa) and _guard_intact(bg, pg)
        assert not attn.isnan().any() and not glogit.isnan().any()
    else:
        attn = glogit = None
    getattr(lib, f'bwd2_{name}_{k}')(_p(xg), _p(gy), _p(attn), _p(glogit),
                                     _p(gx), *_shape(xg), *GRID)
    assert _guard_intact(bx, px)
    return gx.clone()


class EmulatedFA(torch.autograd.Function):

    @staticmethod
    def forward(ctx, x, k, lib):
        ctx.save_for_backward(x)
        ctx.k, ctx.lib = k, lib
        return emu_forward(lib, x.detach(), k)

    @staticmethod
    def backward(ctx, gy, gc):
        (x, ) = ctx.saved_tensors
        return emu_backward(ctx.lib, x.detach(), ctx.k, gy.contiguous(),
                            gc.contiguous()), None, None


SHAPES = [(2, 5, 4, 7, 9), (1, 3, 2, 1, 1), (2, 3, 1, 4, 3), (1, 6, 3, 3, 2)]


@pytest.mark.parametrize('frames_outermost', [False, True],
                         ids=['contiguous', 'frames_outermost'])
@pytest.mark.parametrize('k', KERNEL_SIZES)
@pytest.mark.parametrize('shape', SHAPES)
def test_emulated_kernels_match_torch_float64(emu, k, shape,
                                              frames_outermost):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y_ref, corr_ref = frame_aggregation(x, k, backend='torch')
    y, corr = emu_forward(emu, x.detach(), k, frames_outermost)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    gy, gc = torch.randn_like(y), torch.randn_like(corr)
    # both outputs used, y only, corr only (a null pointer for the other)
    for grad_y, grad_corr in ((gy, gc), (gy, None), (None, gc)):
        outs, grads = zip(*((out, g) for out, g in ((y_ref, grad_y),
                                                    (corr_ref, grad_corr))
                            if g is not None))
        (g_ref, ) = torch.autograd.grad(outs, x, grads, retain_graph=True)
        g = emu_backward(emu, x.detach(), k, grad_y, grad_corr,
                         frames_outermost)
        torch.testing.assert_close(g, g_ref, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize('k', KERNEL_SIZES)
def test_emulated_kernels_gradcheck(emu, k):
    torch.manual_seed(1)
    x = torch.randn(2, 3, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda i: EmulatedFA.apply(i, k, emu),
                                    (x, ))


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5),
                                       (torch.float16, 2e-3),
                                       (torch.bfloat16, 1.6e-2)])
@pytest.mark.parametrize('k', [1, 3, 5])
def test_emulated_kernels_match_torch_low_precision(emu, dtype, tol, k):
    _needs_half(emu, dtype)
    torch.manual_seed(2)
    x = torch.randn(2, 7, 3, 5, 6).to(dtype).requires_grad_()
    y_ref, corr_ref = frame_aggregation(x, k, backend='torch')
    y, corr = emu_forward(emu, x.detach(), k)
    assert y.dtype == corr.dtype == dtype
    # both compute in float32 and round once: at most about one ulp apart
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(corr, corr_ref, rtol=tol, atol=tol)
    gy, gc = torch.randn_like(y), torch.randn_like(corr)
    (g_ref, ) = torch.autograd.grad((y_ref, corr_ref), x, (gy, gc))
    g = emu_backward(emu, x.detach(), k, gy, gc)
    scale = g_ref.abs().max().item()
    torch.testing.assert_close(g.float(), g_ref.float(), rtol=2 * tol,
                               atol=2 * tol * scale)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_emulated_rounding_is_nearest_even(emu, dtype):
    """k=1, C=1, T=2: y[0] = x0 + x1 and corr[0] = x0 * x1 are one float32
    operation each, so the 16-bit results must equal torch's rounding of the
    float32 value bit for bit (sums and products land on ties often)."""
    _needs_half(emu, dtype)
    torch.manual_seed(3)
    x = (torch.randn(1, 1, 2, 64, 64) * 4).to(dtype)
    y, corr = emu_forward(emu, x, 1)
    x0, x1 = x[:, :, 0].float(), x[:, :, 1].float()
    assert torch.equal(y[:, :, 0], (x0 + x1).to(dtype))
    assert torch.equal(corr[:, 0, 0], (x0 * x1)[:, 0].to(dtype))
    assert torch.equal(y[:, :, 1], x[:, :, 1])


class _FakeCuPy:
    """Just enough of CuPy for cupy_kernel.py to drive the emulated
    kernels: checks the Python glue (argument order, pointers, buffers,
    launch sizes, the grad-None paths, the device and stream of each
    launch) on the CPU."""

    def __init__(self, lib):
        import contextlib
        import types
        self.lib, self.launches, self.calls = lib, [], []
        self.devices = []  # CuPy's current device, a stack
        fake = self

        class RawModule:

            def __init__(self, code, options, name_expressions):
                assert '__global__' in code and '-std=c++17' in options
                self.exprs = list(name_expressions)

            def get_function(self, expr):
                assert expr in self.exprs
                return Kernel(expr)

        class Kernel:
            max_threads_per_block = 1024

            def __init__(self, expr):
                m = re.fullmatch(r'(\w+)<(\w+), (\d+)>', expr)
                prefix = {'fa_forward': 'fwd', 'fa_backward_logits': 'bwd1',
                          'fa_backward_input': 'bwd2'}[m.group(1)]
                self.name = m.group(1)
                self.fn = getattr(lib, f'{prefix}_{m.group(2)}_{m.group(3)}')

            def __call__(self, grid, block, args, stream=None):
                cargs = [ctypes.c_void_p(int(a)) if a.dtype.kind == 'u'
                         else ctypes.c_longlong(int(a)) if a.itemsize == 8
                         else int(a) for a in args]
                fake.launches.append((grid, block))
                fake.calls.append((self.name, [getattr(a, 'value', a)
                                               for a in cargs],
                                   stream, fake.devices[-1:]))
                self.fn(*cargs, grid[0], block[0])

        @contextlib.contextmanager
        def device(index):
            fake.devices.append(index)
            try:
                yield
            finally:
                fake.devices.pop()

        self.cuda = types.SimpleNamespace(
            Device=device,
            ExternalStream=lambda ptr, device_id=-1: ('stream', ptr,
                                                      device_id),
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
        self.RawModule = RawModule


#: PyTorch's current stream of device i is STREAM + i in the stand-in
STREAM = 1000


@pytest.fixture
def fake_cupy(emu, monkeypatch):
    """The stand-in for CuPy, and the op's CuPy kernel registered for CPU
    tensors (it runs on CUDA only otherwise)."""
    import sys
    import types
    fake = _FakeCuPy(emu)
    monkeypatch.setitem(sys.modules, 'cupy', fake)
    monkeypatch.setattr(fac, '_kernels', {})
    monkeypatch.setattr(fac, '_reasons', {})
    monkeypatch.setattr(torch.cuda, 'current_device', lambda: 0)
    monkeypatch.setattr(torch.cuda, 'current_stream',
                        lambda index=None: types.SimpleNamespace(
                            cuda_stream=STREAM + index))
    monkeypatch.setitem(custom_op.KERNELS, ('cpu', 'cupy'), custom_op.CUPY)
    return fake


def cupy_fa(x, k):
    """The registered operator with its CuPy kernel."""
    return frame_aggregation_op(x, k, 'cupy')


def stored(kind, shape=(2, 6, 3, 5, 7), dtype=torch.float64):
    """A (N, C, T, H, W) tensor stored as the layouts FA meets."""
    n, c, t, h, w = shape
    if kind == 'frames':  # ResNetDTF: read in place
        return torch.randn(n, t, c, h, w, dtype=dtype).transpose(1, 2)
    if kind == 'channels_last':  # SwinDTF's tokens: copied
        return torch.randn(n, t, h, w, c, dtype=dtype).permute(0, 4, 1, 2, 3)
    if kind == 'standard':
        return torch.randn(n, c, t, h, w, dtype=dtype)
    return torch.randn(n, c, h, t, w, dtype=dtype).transpose(2, 3)


@pytest.mark.parametrize('kind',
                         ['frames', 'channels_last', 'standard', 'other'])
def test_op_with_emulated_cupy_kernel_opcheck(fake_cupy, kind):
    """The CuPy kernel of the registered operator: schema, fake outputs
    (the strides and dtypes torch.compile plans with), autograd, by
    torch.library.opcheck; the backward without corr (CuPy recomputes)."""
    torch.manual_seed(5)
    x = stored(kind, (2, 3, 3, 4, 3)).requires_grad_()
    torch.library.opcheck(frame_aggregation_op, (x, 3, 'cupy'))
    y, corr = cupy_fa(x.detach(), 3)
    gy, gc = torch.randn_like(y), torch.randn_like(corr)
    for grad_y, grad_corr in ((gy, gc), (None, gc), (gy, None)):
        torch.library.opcheck(custom_op.frame_aggregation_backward_op,
                              (grad_y, grad_corr, x.detach(), None, 3,
                               'cupy'))


def test_glue_drives_emulated_kernels(fake_cupy):
    assert fac.cupy_unavailable_reason(torch.device('cuda', 0)) is None
    torch.manual_seed(4)
    x = stored('frames').requires_grad_()  # ResNetDTF's layout
    y, corr = cupy_fa(x, 3)
    assert y.stride() == x.stride()  # read and written in place
    # each launch on PyTorch's current stream of the tensor's device, in
    # that device's CuPy context
    assert {(stream, tuple(devices)) for *_, stream, devices
            in fake_cupy.calls} == {(('stream', STREAM, 0), (0, ))}
    y_ref, corr_ref = frame_aggregation(x, 3, backend='torch')
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(corr, corr_ref, rtol=1e-12, atol=1e-12)
    gy, gc = torch.randn_like(y), torch.randn_like(corr)
    # the second: a gradient in another layout than x's, copied into it
    for outs, refs, grads in (((y, corr), (y_ref, corr_ref), (gy, gc)),
                              ((y, ), (y_ref, ), (gy.contiguous(), )),
                              ((corr, ), (corr_ref, ), (gc, ))):
        (g, ) = torch.autograd.grad(outs, x, grads, retain_graph=True)
        (g_ref, ) = torch.autograd.grad(refs, x, grads, retain_graph=True)
        torch.testing.assert_close(g, g_ref, rtol=1e-11, atol=1e-11)
    # channels-last tokens (SwinDTF's) are copied once, to contiguous
    tokens = stored('channels_last')
    y_cl, corr_cl = cupy_fa(tokens, 3)
    assert y_cl.is_contiguous()
    for a, b in zip((y_cl, corr_cl), frame_aggregation(tokens, 3,
                                                       backend='torch')):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    fake_cupy.launches.clear()
    y, corr = cupy_fa(x, 3)
    torch.autograd.grad((y, corr), x, (gy, gc))
    # y unused: both backward kernels get a null grad_y (argument 1)
    _, corr = cupy_fa(x, 3)
    fake_cupy.calls.clear()
    torch.autograd.grad(corr, x, gc)
    assert [(name, args[1]) for name, args, *_ in fake_cupy.calls] == [
        ('fa_backward_logits', None), ('fa_backward_input', None)]
    # ceil(threads / 256) blocks of 256: forward and input gradient over
    # N*T*H*W = 210 pixels, logits over N*(T-1)*H*W = 140
    assert set(fake_cupy.launches) == {((1, ), (256, ))}
    assert torch.autograd.gradcheck(
        lambda i: cupy_fa(i, 5),
        (torch.randn(2, 3, 3, 4, 3, dtype=torch.float64,
                     requires_grad=True), ))
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        if dtype == torch.float16 and not fake_cupy.lib.has_half:
            continue  # HALF_MISSING; the other dtypes still run
        x = torch.randn(1, 4, 3, 5, 5).to(dtype)
        y, corr = cupy_fa(x, 1)
        assert y.dtype == corr.dtype == dtype
        y_ref, corr_ref = frame_aggregation(x, 1, backend='torch')
        torch.testing.assert_close(y, y_ref, rtol=1e-2, atol=1e-2)
    # T == 1 (no scratch buffers, null pointers) and an empty batch
    x = torch.randn(2, 3, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    y, corr = cupy_fa(x, 3)
    assert torch.equal(y, x) and torch.all(corr == 0)
    (g, ) = torch.autograd.grad(y.sum(), x)
    assert torch.equal(g, torch.ones_like(x))
    y, corr = cupy_fa(torch.randn(0, 3, 2, 4, 4), 3)
    assert corr.shape == (0, 9, 2, 4, 4)
