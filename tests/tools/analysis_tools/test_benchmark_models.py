"""tools/analysis_tools/benchmark_models.py: the ratios and target checks it
prints, and a real (untimed: nothing is asserted about speed) run at a tiny
size."""
import pytest

import helpers

bench = helpers.load_tool('analysis_tools/benchmark_models')


def fake(speed, mem=100 * 2**20):
    return dict(clips_per_s=speed, peak_mem=mem)


def test_targets_are_ratios_to_the_named_baseline():
    results = {
        'c2d_r50': {'train': fake(2.0), 'infer': fake(10.0)},
        'dtf_r50': {'train': fake(1.5), 'infer': fake(8.0)},
        'tsm_r50': {'train': fake(0.5), 'infer': fake(4.0)},
    }
    lines = bench.check_targets(results)
    # inference time ratio = 10 / 8; training speed ratio = 1.5 / 0.5
    # training step time ratio = 2.0 / 1.5
    assert lines == [
        'DTF-Net R50 inference time / C2D R50: 1.25 (target <= 1.08): FAIL',
        'DTF-Net R50 training step time / C2D R50: 1.33 (target <= 1.12): '
        'FAIL',
        'DTF-Net R50 training clips/s / TSM R50: 3.00 (target >= 1.5): PASS',
    ]
    table = bench.format_table(results, ['c2d_r50', 'dtf_r50'],
                               ['train', 'infer'], 'MiB')
    dtf_row = table.splitlines()[3]
    cells = [cell.strip() for cell in dtf_row.split(' | ')]
    assert cells[2:5] == ['1.500', '0.75x', '100']
    assert '0.80x' in dtf_row


def test_rounds_alternate_the_order_and_report_medians(monkeypatch, capsys):
    calls = []
    speeds = {'c2d_r50': iter([10.0, 8.0, 12.0]),
              'dtf_r50': iter([5.0, 9.0, 6.0])}

    def fake_measure(key, mode, args):
        calls.append(key)
        return fake(next(speeds[key]), mem=len(calls) * 2**20)

    monkeypatch.setattr(bench, 'measure', fake_measure)
    results = bench.main(['--models', 'dtf_r50', 'c2d_r50', '--modes',
                          'infer', '--rounds', '3'])
    # baseline first, then reversed, then forward again
    assert calls == ['c2d_r50', 'dtf_r50', 'dtf_r50', 'c2d_r50', 'c2d_r50',
                     'dtf_r50']
    c2d, dtf = results['c2d_r50']['infer'], results['dtf_r50']['infer']
    assert c2d['clips_per_s'] == 10.0 and dtf['clips_per_s'] == 6.0
    assert dtf['rounds_clips_per_s'] == [5.0, 9.0, 6.0]
    assert c2d['peak_mem'] == 4 * 2**20  # median of 1, 4 and 5 MiB
    captured = capsys.readouterr()
    out = captured.out
    assert 'DTF-Net R50 infer, clips/s per round: 5.000, 9.000, 6.000' in out
    # while measuring: one progress line on stderr (off a terminal: its
    # first and last text), no row per run on stdout
    assert captured.err.splitlines()[0].startswith(
        'measuring C2D R50 infer (round 1) (1/6, ')
    assert captured.err.splitlines()[-1].startswith('measuring 6/6 (')
    assert 'clips/s' not in out.split('Device cpu')[0]
    assert 'median of 3 rounds in alternating order' in out
    # the time ratio of the medians: 10 / 6
    assert 'DTF-Net R50 inference time / C2D R50: 1.67' in out
    with pytest.raises(ValueError, match='--rounds must be at least 1, got '
                       '0'):
        bench.main(['--rounds', '0'])


def test_same_process_measures_the_models_together(monkeypatch, capsys):
    """--same-process: one job per round and mode with every model, its
    results spread to the models; no memory figure."""
    calls = []
    speeds = iter([(10.0, 5.0), (8.0, 9.0), (12.0, 6.0)])

    def fake_measure(key, mode, args, together=False):
        calls.append((key, together))
        c2d, dtf = next(speeds)
        return {'c2d_r50': fake(c2d, mem=None), 'dtf_r50': fake(dtf, None)}

    monkeypatch.setattr(bench, 'measure', fake_measure)
    results = bench.main(['--models', 'dtf_r50', 'c2d_r50', '--modes',
                          'infer', '--rounds', '3', '--same-process'])
    # baseline first; one process per round
    assert calls == [('c2d_r50,dtf_r50', True)] * 3
    c2d, dtf = results['c2d_r50']['infer'], results['dtf_r50']['infer']
    assert c2d['clips_per_s'] == 10.0 and dtf['clips_per_s'] == 6.0
    assert dtf['peak_mem'] is None
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith(
        'measuring C2D R50 + DTF-Net R50 infer (round 1) (1/3, ')
    assert 'memory not measured' in captured.out
    dtf_row = captured.out.split('Device cpu')[1].splitlines()[3]
    assert [c.strip() for c in dtf_row.split(' | ')][2:6] == [
        '6.000', '0.60x', '-', '-']
    with pytest.raises(ValueError, match='--same-process does not profile'):
        bench.main(['--same-process', '--profile'])


def test_same_process_compiled_reports_speeds_without_compile_times(
        monkeypatch, capsys):
    """--same-process --compile: per round an eager job and a compiled one,
    each with every model; the compiled target from them, the compile
    times n/a (they need a process per model)."""
    calls = []

    def fake_measure(key, mode, args, together=False):
        calls.append((key, mode, together))
        if mode.endswith(bench.COMPILED):
            return {'c2d_r50': dict(fake(4.0, None), eager_clips_per_s=2.0),
                    'dtf_r50': dict(fake(3.5, None), eager_clips_per_s=1.8)}
        return {'c2d_r50': fake(2.0, None), 'dtf_r50': fake(1.8, None)}

    monkeypatch.setattr(bench, 'measure', fake_measure)
    results = bench.main(['--models', 'c2d_r50', 'dtf_r50', '--modes',
                          'infer', '--compile', '--same-process'])
    assert calls == [('c2d_r50,dtf_r50', 'infer', True),
                     ('c2d_r50,dtf_r50', 'infer compiled', True)]
    assert 'compile_s' not in results['dtf_r50']['infer compiled']
    out = capsys.readouterr().out
    # 4.0 / 3.5 compiled; the speed-up 3.5 / 1.8
    assert ('Compiled DTF-Net R50 / compiled C2D R50 inference time: 1.14 '
            '(target <= 1.1): FAIL') in out
    assert 'DTF-Net R50 / C2D R50 compile time (infer): n/a' in out
    assert 'no compile time' in out
    dtf_row, = [line for line in out.split('torch.compile')[1].splitlines()
                if line.startswith('DTF-Net R50 ') and ' | ' in line]
    assert [c.strip() for c in dtf_row.split(' | ')][1:] == [
        '1.800', '3.500', '1.94x', '0.88x', '-', '-']


def test_the_together_worker_times_compiled_and_eager_steps_in_turn(
        monkeypatch):
    """run_together --worker-compiled, in this process with toy models: each
    model's compilation untimed, then its eager and compiled steps in turn
    (every model's order reversed every iteration)."""
    import torch

    ran = []

    def toy_workload(key, mode, args):
        model = torch.nn.Linear(4, 4)
        model.extract_feat = model.forward

        def make_step(extract_feat):
            kind = 'eager' if extract_feat == model.forward else 'compiled'

            def step():
                ran.append((key, kind))
                extract_feat(torch.ones(2, 4))
            return step
        return bench.Workload(model, make_step)

    monkeypatch.setattr(bench, 'workload', toy_workload)
    args = bench.parse_args(['--worker', 'c2d_r50,dtf_r50', '--worker-mode',
                             'infer', '--worker-compiled', '--worker-together',
                             '--iters', '2', '--warmup', '0',
                             '--shape', '2', '3', '4', '8', '8'])
    results = bench.run_together(args)
    assert ran == [('c2d_r50', 'compiled'), ('dtf_r50', 'compiled'),
                   ('c2d_r50', 'eager'), ('c2d_r50', 'compiled'),
                   ('dtf_r50', 'eager'), ('dtf_r50', 'compiled'),
                   ('dtf_r50', 'eager'), ('dtf_r50', 'compiled'),
                   ('c2d_r50', 'eager'), ('c2d_r50', 'compiled')]
    for key in ('c2d_r50', 'dtf_r50'):
        res = results[key]
        assert len(res['times']) == 2 and res['peak_mem'] is None
        assert res['clips_per_s'] > 0 and res['eager_clips_per_s'] > 0
        assert 'first_step' not in res


@pytest.mark.slow  # a subprocess
def test_same_process_runs_dtf_and_c2d_at_a_tiny_size(capsys):
    """Both models in one process (the steps of both modes are the separate
    workers', run at a tiny size above)."""
    results = bench.main([
        '--models', 'c2d_r50', 'dtf_r50', '--shape', '1', '3', '8', '32',
        '32', '--iters', '2', '--warmup', '1', '--threads', '1',
        '--modes', 'infer', '--same-process'
    ])
    for key in ('c2d_r50', 'dtf_r50'):
        res = results[key]['infer']
        assert 'error' not in res, res
        assert res['clips_per_s'] > 0 and res['peak_mem'] is None
        assert len(res['times']) == 2
    assert 'DTF-Net R50 inference time / C2D R50: ' in capsys.readouterr().out


def test_a_failure_is_marked_in_the_table_and_told_after_it(monkeypatch,
                                                            capsys):
    def fake_measure(key, mode, args):
        if key == 'dtf_r50':
            return dict(key=key, mode=mode, error='exit 1: boom')
        return fake(10.0)

    monkeypatch.setattr(bench, 'measure', fake_measure)
    bench.main(['--models', 'c2d_r50', 'dtf_r50', '--modes', 'infer'])
    out = capsys.readouterr().out.splitlines()
    table_row, = [line for line in out if line.startswith('DTF-Net R50 ')
                  and ' | ' in line]
    assert 'error' in table_row
    assert out[-1] == 'DTF-Net R50 infer: exit 1: boom'


def test_a_failed_round_is_reported_not_averaged():
    runs = [fake(1.0), dict(key='dtf_r50', mode='infer', error='exit 1: x')]
    assert bench.combine_rounds(runs)['error'] == 'exit 1: x'


def test_unmeasured_target_is_reported_not_guessed():
    results = {'c2d_r50': {'infer': fake(10.0)}}
    assert bench.check_targets(results)[0].endswith('n/a (not measured)')


def test_odd_clip_length_is_refused():
    with pytest.raises(ValueError, match='T=6 must be a multiple of 4'):
        bench.main(['--shape', '1', '3', '6', '32', '32'])


@pytest.mark.slow  # a subprocess per model and mode
def test_runs_dtf_and_c2d_at_a_tiny_size(capsys):
    results = bench.main([
        '--models', 'c2d_r50', 'dtf_r50', 'dtf_r50_fft', '--shape', '1',
        '3', '8', '32', '32', '--iters', '1', '--warmup', '0', '--threads',
        '1'
    ])
    for key in ('c2d_r50', 'dtf_r50', 'dtf_r50_fft'):
        for mode in ('train', 'infer'):
            res = results[key][mode]
            assert 'error' not in res, res
            assert res['clips_per_s'] > 0 and res['peak_mem'] >= 0
    captured = capsys.readouterr()
    out = captured.out
    assert 'DTF-Net R50 inference time / C2D R50: ' in out
    assert 'measuring C2D R50 train (1/6, ' in captured.err
    # TSM was not asked for: its target is not made up
    assert 'DTF-Net R50 training clips/s / TSM R50: n/a' in out


@pytest.mark.slow  # a subprocess per mode
def test_tin_is_measured_not_skipped(capsys):
    """TIN R50 runs on mmdtf's tin_shift (MMAction2's config, backbone type
    ResNetTINShift): figures, no skip."""
    results = bench.main([
        '--models', 'tin_r50', '--shape', '1', '3', '8', '32', '32',
        '--iters', '1', '--warmup', '0', '--threads', '1'
    ])
    for mode in ('train', 'infer'):
        res = results['tin_r50'][mode]
        assert 'error' not in res and 'skipped' not in res, res
        assert res['clips_per_s'] > 0
    out = capsys.readouterr().out
    tin_row, = [line for line in out.splitlines()
                if line.startswith('TIN R50 ') and ' | ' in line]
    assert 'skipped' not in tin_row and 'error' not in tin_row


def test_mixing_preset_turns_on_only_the_mixing():
    from mmengine.config import Config

    from mmdtf.models.blocks import DTFBlock
    default = Config.fromfile(str(bench.REPO / 'configs/dtf_r50_k400.py'))
    mixing = Config.fromfile(str(bench.REPO / 'configs/dtf_r50_k400.py'))
    bench.PRESETS['dtf_r50'].adapt(default, 8, 32, 32)
    bench.PRESETS['dtf_r50_mix'].adapt(mixing, 8, 32, 32)
    assert default.model.backbone.dtf_cfg.variant == 'mmdtf'
    assert mixing.model.backbone.dtf_cfg.channel_mixing is True
    # the built blocks differ by the mixing alone
    blocks = [DTFBlock(64, 4, **cfg.model.backbone.dtf_cfg)
              for cfg in (default, mixing)]
    assert blocks[0].filter.mixing is None
    assert blocks[1].filter.mixing is not None
    for name in ('estimator_norm', 'use_corr', 'aggregate', 'filter_type'):
        assert getattr(blocks[0], name, None) == getattr(blocks[1], name,
                                                         None), name
    assert (blocks[0].filter.estimator_input.norm ==
            blocks[1].filter.estimator_input.norm == 'rms')
    mixing.model.backbone.dtf_cfg.pop('channel_mixing')
    mixing.model.backbone.dtf_cfg.variant = 'mmdtf'
    assert mixing.to_dict() == default.to_dict()


def test_compile_table_and_targets_from_one_process_pairs():
    """--compile: each compiled job measures its model eager and compiled
    (interleaved); the speed-up is within that job, the 'vs baseline'
    ratios are against the compiled baseline, compile times likewise."""
    def compiled(speed, eager, compile_s):
        return dict(fake(speed), eager_clips_per_s=eager, compile_s=compile_s)

    c = bench.COMPILED
    results = {
        'c2d_r50': {'infer': fake(10.0), 'infer' + c: compiled(12.0, 9.0,
                                                               40.0)},
        'dtf_r50': {'infer': fake(5.0), 'infer' + c: compiled(9.0, 8.0,
                                                              100.0)},
    }
    table = bench.format_compile_table(results, ['c2d_r50', 'dtf_r50'],
                                       ['infer'])
    cells = [cell.strip() for cell in table.splitlines()[3].split(' | ')]
    # eager 8 (the compiled job's own), compiled 9: 1.12x; 9 / 12 = 0.75x;
    # 100 s, 100 / 40 = 2.50x
    assert cells == ['DTF-Net R50', '8.000', '9.000', '1.12x', '0.75x',
                     '100', '2.50x']
    assert bench.check_compile_targets(results, ['infer']) == [
        'Compiled / eager DTF-Net R50 infer speed: 1.12 (target >= 1.0): '
        'PASS',
        'Compiled DTF-Net R50 / compiled C2D R50 inference time: 1.33 '
        '(target <= 1.1): FAIL',
        'DTF-Net R50 / C2D R50 compile time (infer): 2.50 (target <= 1.5): '
        'FAIL',
    ]


def test_cpu_statistic_counts_this_process_only():
    import time
    start = time.monotonic()
    assert bench.step_seconds(lambda: time.sleep(0.05), 'cpu') < 0.02
    assert bench.step_seconds(lambda: time.sleep(0.05), 'median') >= 0.04
    assert time.monotonic() - start >= 0.09


def test_fastest_statistic_takes_the_fastest_step_and_round():
    assert bench.summarise([3.0, 1.0, 2.0], 'min') == 1.0
    assert bench.summarise([3.0, 1.0, 2.0], 'median') == 2.0
    assert bench.summarise([3.0, 1.0, 2.0], 'cpu') == 2.0  # CPU times
    runs = [dict(fake(speed), eager_clips_per_s=speed / 2, first_step=9.0,
                 time_per_iter=1.0) for speed in (1.0, 3.0, 2.0)]
    fastest = bench.combine_rounds(runs, 'min')
    assert fastest['clips_per_s'] == 3.0
    assert fastest['eager_clips_per_s'] == 1.5
    assert fastest['compile_s'] == 8.0
    assert bench.combine_rounds(runs)['clips_per_s'] == 2.0
