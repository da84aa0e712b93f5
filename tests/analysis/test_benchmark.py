"""mmdtf.analysis.benchmark, what the tools share: input shapes from a
config, timing with torch.utils.benchmark, the resident-set peak."""
import pytest
import torch
from mmengine.config import Config

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


def test_median_seconds_runs_warmup_then_repeats():
    calls = []
    median, times = median_seconds(lambda: calls.append(1), 2, 5)
    assert len(calls) == 7 and len(times) == 5
    assert sorted(times)[2] == median and median > 0


def test_rss_peak_sees_a_freed_allocation():
    base = reset_rss_peak()
    x = torch.ones(16 * 2**20)  # 64 MiB, touched
    del x
    assert rss_peak_bytes() - base >= 60 * 2**20
