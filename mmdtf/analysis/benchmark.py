"""What the tools share: the input shape of a config, timing and peak memory.

Used by ``tools/analysis_tools/get_flops.py``,
``tools/deployment/export_onnx.py``,
``tools/analysis_tools/benchmark_models.py``,
``tools/analysis_tools/benchmark_frame_aggregation.py`` and
``tools/dev/gpu_check.py``.
"""
import statistics
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch.utils.benchmark.utils.timer import timer as synchronised_clock


def input_shape_from(cfg, shape: Optional[Sequence[int]]) -> Tuple[int, ...]:
    """The input shape of ``cfg``'s model, MMAction2's way.

    ``shape`` (a ``--shape``) of 4 or 5 sizes is taken as given; 1 or 2 sizes
    (H W, default 224 224) are completed with the config's format
    (``model.data_preprocessor.format_shape``) and clip length
    (``model.backbone.clip_len``) to ``(1, 3, T, H, W)``, or for 2D models
    over segments (TSM, TIN) to ``(num_segments, 3, H, W)``
    (``model.backbone.num_segments``, else ``model.cls_head.num_segments``
    as for ``TCPHead`` on a plain ResNet; 1 if neither is set).
    """
    shape = list(shape or [224, 224])
    if len(shape) in (4, 5):
        return tuple(shape)
    if len(shape) not in (1, 2):
        raise ValueError('--shape takes N C T H W (N C H W for a 2D '
                         'recognizer) or H W (or one size): 1, 2, 4 or 5 '
                         f'sizes, got {shape}.')
    size = tuple(shape * 2 if len(shape) == 1 else shape)
    preprocessor = cfg.model.get('data_preprocessor') or {}
    format_shape = preprocessor.get('format_shape', 'NCHW')
    if format_shape == 'NCHW':
        segments = cfg.model.get('backbone', {}).get(
            'num_segments',
            cfg.model.get('cls_head', {}).get('num_segments', 1))  # TCPHead
        return (segments, 3) + size
    if format_shape == 'NCTHW':
        clip_len = cfg.model.get('backbone', {}).get('clip_len')
        if clip_len is None:
            raise ValueError(
                'The config has format_shape NCTHW but no '
                '`model.backbone.clip_len`; give --shape as N C T H W.')
        return (1, 3, clip_len) + size
    raise ValueError(f'Cannot complete --shape {shape} for format_shape '
                     f'{format_shape!r} (`model.data_preprocessor.'
                     'format_shape`); give the full input shape.')


def median_seconds(fn: Callable[[], object], warmup: int,
                   repeat: int) -> Tuple[float, list]:
    """Median and all of ``repeat`` timings of ``fn()`` after ``warmup``
    calls, in seconds.

    The clock is ``torch.utils.benchmark``'s, which synchronises the
    accelerator (CUDA) before reading the time. Not its ``Timer.timeit``:
    that runs two untimed calls before every timing and returns a mean,
    where the median of single calls is what stays robust on a shared
    machine.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = synchronised_clock()
        fn()
        times.append(synchronised_clock() - start)
    return statistics.median(times), times


def cuda_peak_extra_bytes(fn: Callable[[], object],
                          device: torch.device) -> int:
    """Peak memory allocated by ``fn()`` on CUDA (its outputs included)
    above what was allocated before."""
    torch.cuda.synchronize(device)
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    out = fn()
    torch.cuda.synchronize(device)
    peak = torch.cuda.max_memory_allocated(device) - base
    del out
    return peak


def peak_bandwidth_gbs(device: torch.device) -> Optional[float]:
    """A CUDA device's peak memory bandwidth in GB/s: memory clock * bus
    width * 2 (double data rate); None where the properties lack them."""
    props = torch.cuda.get_device_properties(device)
    clock_khz = getattr(props, 'memory_clock_rate', 0)
    bus_bits = getattr(props, 'memory_bus_width', 0)
    if not (clock_khz and bus_bits):
        try:  # older torch: ask the CUDA runtime through CuPy
            import cupy
            rt = cupy.cuda.runtime
            index = torch.device(device).index or 0
            clock_khz = rt.deviceGetAttribute(rt.cudaDevAttrMemoryClockRate,
                                              index)
            bus_bits = rt.deviceGetAttribute(
                rt.cudaDevAttrGlobalMemoryBusWidth, index)
        except Exception:
            return None
    return clock_khz * 1e3 * bus_bits / 8 * 2 / 1e9


def _status_bytes(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def reset_rss_peak() -> int:
    """Reset the resident-set high-water mark of this process (Linux:
    ``5 > /proc/self/clear_refs``); returns the resident set now, in bytes.
    :func:`rss_peak_bytes` minus it is then what the code in between
    added at its peak."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    return _status_bytes('VmRSS')


def rss_peak_bytes() -> int:
    """The resident-set high-water mark (``VmHWM``) in bytes."""
    return _status_bytes('VmHWM')


__all__ = ['input_shape_from', 'median_seconds', 'cuda_peak_extra_bytes',
           'peak_bandwidth_gbs', 'reset_rss_peak', 'rss_peak_bytes']
