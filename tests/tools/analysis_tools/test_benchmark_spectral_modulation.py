"""tools/analysis_tools/benchmark_spectral_modulation.py: its inputs are
what the blocks hand the operator, both paths it times compute the same
function, and a real CPU run prints a row per stage and the blocks' sum
(untimed: nothing is asserted about speed)."""
import torch

import helpers

bench = helpers.load_tool('analysis_tools/benchmark_spectral_modulation')


def test_inputs_and_paths():
    y, estimated, grad = bench.make_inputs(2, 32, 5, 4, 16)
    assert y.shape == grad.shape == (2, 32, 4, 5, 5)
    assert y.transpose(1, 2).is_contiguous()  # ResNetDTF's frames
    assert estimated.shape == (2, 2 * 2 * 3, 5, 5)
    calls = bench.path_calls(y, estimated, grad)
    assert set(calls) == {'fused', 'torch'}
    n, _, t, h, w = y.shape
    filt = estimated.view(n, 2, -1, 1, t // 2 + 1, h, w)
    torch.testing.assert_close(
        bench.spectral_modulation_op(y, filt[:, 0], filt[:, 1]),
        bench._modulated(y, filt[:, 0], filt[:, 1], 'matmul'))
    for forward, forward_backward in calls.values():
        forward()
        forward_backward()


def test_cpu_run_prints_every_stage_and_the_sum(capsys):
    table = bench.main(['--warmup', '0', '--repeat', '1', '--rounds', '2'])
    assert capsys.readouterr().out.strip().endswith(table)
    lines = table.splitlines()
    assert len(lines) == 2 + len(bench.R50_STAGES) + 1
    assert lines[2].startswith('| 1, 64, 4, 56, 56 |')
    assert lines[-1].startswith('| the 16 blocks |')
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip('|').split('|')]
        figures = [float(c.rstrip('x')) for c in cells[1:]]
        assert all(f > 0 for f in figures)
