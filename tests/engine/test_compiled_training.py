"""MMEngine's own ``compile`` config key on the demo config, through
MMAction2's entry points (what `mim train` / `mim test` run), on CPU: one
epoch compiled (inductor) logs, at every step, the loss and gradient norm
of the same step in eager mode within float32 rounding of one step, and its
checkpoint tests with the key still set.

The FA op is a registered operator (mmdtf::frame_aggregation), so the
compiled training step has no graph break in the backbone
(tests/models/backbones/test_backbone_compile.py) and its backward is
FA's hand-written one.
"""
import re

import pytest

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

# inductor compiles the training step's C++ kernels on the first
# iteration: minutes on a busy 2-core machine
COMPILE_TIMEOUT = 600
TOP1 = re.compile(r'acc/top1: ([0-9.]+)')
# See the comparison in the test: one step's float32 rounding, not compounded.
LOSS_RTOL = 1e-4
GRAD_NORM_RTOL = 1e-4


@pytest.fixture(scope='module')
def train_config(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    helpers.make_demo_data(root, train_per_class=2, val_per_class=1)
    # 16 videos, batch 2: 8 iterations of one epoch, seed 0, deterministic.
    # lr 0: every step starts from the same weights, so step k's loss and
    # gradient norm (logged: the demo clips gradients) differ between the
    # compiled and the eager run by the rounding of ONE forward and backward,
    # not by rounding compounded through earlier updates (which grows about
    # tenfold per step at a useful lr and made a tolerance measured on one
    # CPU fail on another instruction set). The optimizer and the scheduler
    # still run, compiled, on every step.
    cfg = helpers.demo_config(
        root, batch_size=2, max_epochs=1,
        overrides=dict(optim_wrapper=dict(optimizer=dict(
            _delete_=True, type='SGD', lr=0.0, momentum=0.9))))
    return helpers.write_config(cfg, root / 'dtf_r18_demo_small.py')


def train(config, work_dir, *options, timeout=helpers.SUBPROCESS_TIMEOUT):
    out = helpers.run(
        helpers.python_cmd(helpers.TRAIN_PY, config, '--no-validate',
                           '--work-dir', work_dir, *options),
        work_dir.parent / f'{work_dir.name}.log', timeout=timeout).stdout
    runs = helpers.run_dirs(work_dir)
    assert len(runs) == 1, runs
    return out, helpers.train_scalars(runs[0])


@pytest.mark.slow
def test_compiled_epoch_matches_eager_and_tests(train_config, tmp_path):
    _, eager = train(train_config, tmp_path / 'eager')
    # fallback_random: inductor draws dropout's masks with eager mode's
    # generator (its own draws others), so the two runs are comparable
    out, compiled = train(train_config, tmp_path / 'compiled',
                          '--cfg-options',
                          'compile.options.fallback_random=True',
                          timeout=COMPILE_TIMEOUT)
    assert 'Model has been "compiled"' in out  # MMEngine's own message
    assert list(compiled) == list(eager) == list(range(1, 9))
    for it, scalars in compiled.items():
        # One float32 forward/backward whose sums inductor reassociates and
        # fuses: relative differences of a few float32 roundoffs (2**-24) per
        # reduction, over reductions of up to ~10**4 terms, growing with the
        # square root of the length for random-signed rounding errors (ReLU
        # and max pooling are continuous, so a pre-activation within rounding
        # of zero moves the result by rounding only). 1e-4 (about 1700
        # roundoffs) holds with a wide margin on any x86-64 CPU; a
        # miscompiled op moves a loss near log(8) or a gradient norm by far
        # more.
        assert scalars['loss'] == pytest.approx(eager[it]['loss'],
                                                rel=LOSS_RTOL), it
        assert scalars['grad_norm'] == pytest.approx(
            eager[it]['grad_norm'], rel=GRAD_NORM_RTOL), it
        assert scalars['lr'] == eager[it]['lr'] == 0.0
    # the steps saw different batches: a run that logged one step's values
    # eight times would pass the comparison above
    assert len({round(s['loss'], 6) for s in eager.values()}) > 1
    # `mim test` of the compiled run's checkpoint, with the key still set
    checkpoint = tmp_path / 'compiled' / 'epoch_1.pth'
    out = helpers.run(
        helpers.python_cmd(helpers.TEST_PY, train_config, checkpoint,
                           '--work-dir', tmp_path / 'test',
                           '--cfg-options', 'compile=True'),
        tmp_path / 'test.log').stdout
    assert TOP1.search(out), out[-2000:]
