"""Frame-wise Aggregation (FA): the DTF paper's custom op, spec section 1.

For frame ``t < T-1`` and pixel ``p`` the query ``x[:, :, t, p]`` is
compared with the ``k x k`` neighbourhood of ``p`` in frame ``t+1`` (zero
padded)::

    corr[n, j, t, p] = mean_c x[n, c, t, p] * x[n, c, t+1, p + d_j]
    agg[n, c, t, p]  = sum_j softmax_j(corr)[n, j, t, p]
                             * x[n, c, t+1, p + d_j]

and the last frame gets ``corr = 0`` and ``agg = 0``. The op returns
``(x + agg, corr)``.

- ``dispatch.py``: the public API (input checks, the function and module)
  and the one place that chooses between backends;
- ``custom_op.py``: the registered operator ``mmdtf::frame_aggregation``
  and its backward, with a fake implementation and a kernel per device;
- ``cpp_kernel.py``: the fused C++ kernel (CPU; source
  ``ops/frame_aggregation_cpu.cpp``, compiled on first use);
- ``torch_kernel.py``: the PyTorch kernel (CPU where the C++ kernel cannot
  be built, CUDA without CuPy; the oracle of both);
- ``cupy_kernel.py``: the CuPy kernel (CUDA; sources in
  ``ops/frame_aggregation.cu``);
- ``export.py``: the forward in standard operators, for ONNX export.

The deliberately naive reference is
``mmdtf/testing/naive_frame_aggregation.py``; docs/internals/ops.md.
"""
from .custom_op import frame_aggregation_backward_op, frame_aggregation_op
from .dispatch import (BACKENDS, FrameAggregation, check_backend,
                       check_frame_aggregation_input, choose_backend,
                       frame_aggregation, frame_aggregation_torch)
from .export import frame_aggregation_export

__all__ = ['frame_aggregation', 'FrameAggregation', 'frame_aggregation_torch',
           'frame_aggregation_export', 'check_frame_aggregation_input',
           'check_backend', 'choose_backend', 'BACKENDS',
           'frame_aggregation_op', 'frame_aggregation_backward_op']
