"""mmdtf.analysis.benchmark, what the tools share: input shapes from a
config, timing with torch.utils.benchmark, the resident-set peak."""
import mmap
import time

import pytest
from mmengine.config import Config

from mmdtf.analysis import benchmark
from mmdtf.analysis.benchmark import (input_shape_from, median_seconds,
                                      reset_rss_peak, rss_peak_bytes)


def config(format_shape, clip_len=None):
    backbone = {} if clip_len is None else dict(clip_len=clip_len)
    return Config(dict(model=dict(
        backbone=backbone,
        data_preprocessor=dict(format_shape=format_shape))))


def test_input_shapes():
    assert input_shape_from(config('NCTHW', 16), None) == (1, 3, 16, 224, 224)
    assert input_shape_from(config('NCTHW', 8), [48]) == (1, 3, 8, 48, 48)
    assert input_shape_from(config('NCHW'), [32, 40]) == (1, 3, 32, 40)
    assert input_shape_from(config('NCHW'), [2, 3, 8, 8]) == (2, 3, 8, 8)
    with pytest.raises(ValueError, match='got \\[3, 16, 32\\]'):
        input_shape_from(config('NCTHW', 16), [3, 16, 32])
    with pytest.raises(ValueError, match='model.backbone.clip_len'):
        input_shape_from(config('NCTHW'), None)
    with pytest.raises(ValueError, match="'NCTHW_Heatmap'"):
        input_shape_from(config('NCTHW_Heatmap'), None)


def test_median_seconds_times_each_call_after_warmup(monkeypatch):
    """On a clock that each call of ``fn`` advances by a known time: the
    warmup calls are not timed, the timed ones are, their median is
    returned."""
    now = [0.]
    monkeypatch.setattr(benchmark, 'synchronised_clock', lambda: now[0])
    durations = iter([100., 100., 5., 1., 3., 2., 4.])  # 2 warmup, 5 timed

    def fn():
        now[0] += next(durations)

    median, times = median_seconds(fn, 2, 5)
    assert times == [5., 1., 3., 2., 4.]
    assert median == 3.


def test_median_seconds_is_in_seconds():
    """On the real clock: a 20 ms sleep lasts at least 0.02 (sleep's
    guarantee) and, even on a busy machine, far less than 2."""
    median, times = median_seconds(lambda: time.sleep(0.02), 1, 3)
    assert all(0.02 <= t < 2 for t in times)
    assert median == sorted(times)[1]


def test_rss_peak_sees_a_freed_allocation():
    """64 MiB of fresh pages (an anonymous mapping, each page written:
    a tensor could reuse memory an earlier test freed and the allocator
    kept resident), then freed: the peak saw them."""
    size = 64 * 2**20
    base = reset_rss_peak()
    pages = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        pages[offset] = 1
    pages.close()
    assert rss_peak_bytes() - base >= 60 * 2**20
