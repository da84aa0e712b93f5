"""tools/analysis_tools/benchmark_frame_aggregation.py: its inputs, a real CPU
run at tiny sizes (untimed: nothing is asserted about speed) and the memory
it measures, which shows that the torch path builds no k*k-times copy of the
input."""
import pytest
import torch

import helpers

bench = helpers.load_tool('analysis_tools/benchmark_frame_aggregation')


@pytest.mark.parametrize('layout,order', [
    ('standard', (0, 1, 2, 3, 4)), ('frames', (0, 2, 1, 3, 4)),
    ('channels_last', (0, 2, 3, 4, 1))])
def test_inputs_are_stored_in_the_layout(layout, order):
    x = bench.make_input((2, 3, 4, 5, 6), layout, dtype=torch.float64)
    assert x.shape == (2, 3, 4, 5, 6)
    assert x.permute(*order).is_contiguous()


@pytest.mark.slow  # a subprocess per measurement (its memory peak)
def test_cpu_run_prints_every_shape_and_backend(capsys):
    bench.main(['--device', 'cpu', '--shapes', 'small', '--layout', 'frames',
                '--backends', 'torch', 'naive', '--warmup', '0',
                '--repeat', '1'])
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # while measuring: one progress line on stderr (off a terminal: its
    # first and last text); the table after it on stdout
    progress = captured.err.splitlines()
    first = 'x'.join(map(str, bench.shape_list('small', [])[0]))
    assert progress[0].startswith(f'measuring {first} torch (1/')
    assert progress[-1].startswith('measuring 6/6 (')
    assert 'layout frames' in lines[0]
    rows = [line.split() for line in lines[3:]]
    shapes = ['x'.join(map(str, s)) for s in bench.shape_list('small', [])]
    assert [(r[0], r[1]) for r in rows] == [
        (s, b) for s in shapes for b in ('torch', 'naive')]
    for row in rows:
        assert float(row[-1]) < 1e-5  # max |diff| against the torch path
        assert float(row[4]) >= 1.0 and float(row[5]) >= 1.0  # y and corr
    assert all(row[8:10] == ['1.00', '1.00'] for row in rows[::2])


@pytest.mark.slow  # a fresh process per measurement
@pytest.mark.parametrize('layout', ['standard', 'frames', 'channels_last'])
def test_torch_path_builds_no_kxk_copy(layout):
    """Forward + backward at k = 5 in a fresh process: the torch path's peak
    stays a few times the input, where the 25 neighbour copies that an unfold
    formulation builds (measured in the same way) exceed 25 times."""
    shape = (2, 64, 4, 32, 32)  # 2 MiB of float32
    size = 2 * 64 * 4 * 32 * 32 * 4
    _, torch_peak = bench.cpu_peak_extra_bytes('torch', shape, 'float32', 5,
                                               layout)
    assert 1.0 < torch_peak / size < 8.0
    if layout == 'standard':
        _, naive_peak = bench.cpu_peak_extra_bytes('naive', shape,
                                                   'float32', 5, layout)
        assert naive_peak / size > 25.0


def test_cpp_target_line():
    line = bench.cpp_target_line({'fwd_bwd': 9.0}, {'fwd_bwd': 3.0},
                                 'frames', 'float32')
    assert line == ('Fused CPU kernel forward+backward speed / torch path at '
                    '(1, 64, 4, 56, 56) (frames, float32): 3.00 (target >= '
                    '3): PASS')
    assert bench.cpp_target_line({'fwd_bwd': 5.0}, {'fwd_bwd': 2.0},
                                 'frames', 'float32').endswith(
        '2.50 (target >= 3): FAIL')


def test_rounds_alternate_backends_and_take_medians(monkeypatch):
    order = []

    def fake_timings(backend, x, k):
        return (lambda: order.append(backend)), (lambda: None)

    times = iter([1.0, 10.0, 3.0, 30.0, 2.0, 20.0, 5.0, 50.0])
    monkeypatch.setattr(bench, 'timings', fake_timings)
    results = {'cpp': {'fwd': 4.0, 'fwd_bwd': 40.0},
               'torch': {'fwd': 6.0, 'fwd_bwd': 60.0}}

    def timer(fn):
        fn()
        return next(times)

    bench.retime(results, None, 3, timer, rounds=3)
    # round 2 reversed, round 3 in order
    assert order == ['torch', 'cpp', 'cpp', 'torch']
    # cpp: 4, 3, 2 (median 3); torch: 6, 1, 5 (median 5)
    assert results['cpp'] == {'fwd': 3.0, 'fwd_bwd': 30.0}
    assert results['torch'] == {'fwd': 5.0, 'fwd_bwd': 50.0}


def test_timer_statistic(monkeypatch):
    monkeypatch.setattr(bench, 'median_seconds',
                        lambda fn, warmup, repeat: (2.0, [3.0, 1.0, 2.0]))
    assert bench.Timer(0, 3, 'min')(lambda: None) == 1000.0
    assert bench.Timer(0, 3)(lambda: None) == 2000.0
