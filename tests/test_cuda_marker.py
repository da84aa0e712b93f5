"""The ``cuda`` marker (tests/cuda_marker.py): with ``MMDTF_REQUIRE_CUDA=1``
on a machine without a GPU, every test needing one fails instead of
skipping, so a GPU run cannot be green by skipping. pytest runs the tests of
the ``cuda`` marker in a subprocess that sees no GPU (CUDA_VISIBLE_DEVICES
is empty), on a GPU host too."""
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

#: some of the tests that need a GPU, one per file that has them
KNOWN_CUDA_TESTS = (
    'tests.ops.test_frame_aggregation_cuda::test_float32_matches_torch',
    'tests.ops.test_frame_aggregation_cuda::test_compiled_dtf_net_is_one_'
    'graph_with_cupy',
    'tests.ops.test_frame_aggregation_cuda_fallback::test_forced_cupy_'
    'backend_names_reason_and_fix',
    'tests.ops.test_tin_shift::test_dtypes_cuda',
    'tests.models.backbones.test_resnet_tin::test_cuda_matches_cpu',
    'tests.engine.optimizers.test_autocast_optim_wrapper::test_amp_optim_'
    'wrapper_trains_the_demo_on_gpu',
)


def run_cuda_tests(tmp_path, require):
    """``{test id: outcome}`` of ``pytest -m cuda`` without a GPU."""
    xml = tmp_path / 'junit.xml'
    env = helpers.subprocess_env()
    env.update(CUDA_VISIBLE_DEVICES='', MMDTF_REQUIRE_CUDA=require)
    cmd = [sys.executable, '-m', 'pytest', '-m', 'cuda', '-q',
           '-p', 'no:cacheprovider', f'--junitxml={xml}', 'tests']
    run = subprocess.run(cmd, cwd=helpers.REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    outcomes = {}
    for case in ET.parse(xml).iter('testcase'):
        test_id = (case.get('classname') + '::'
                   + case.get('name').split('[')[0])
        children = [(child.tag, child.get('message', '')) for child in case
                    if child.tag in ('failure', 'error', 'skipped')]
        outcomes.setdefault(test_id, []).append(
            children[0] if children else ('passed', ''))
    return run, outcomes


@pytest.mark.slow
def test_require_cuda_turns_every_gpu_test_into_a_failure(tmp_path):
    run, outcomes = run_cuda_tests(tmp_path, require='1')
    assert run.returncode == 1, run.stdout[-3000:]
    for test_id in KNOWN_CUDA_TESTS:
        assert test_id in outcomes, test_id
    two_gpus = 'tests.ops.test_frame_aggregation_cuda::test_non_default_device'
    for test_id, results in outcomes.items():
        for tag, message in results:
            if test_id == two_gpus:  # MMDTF_REQUIRE_CUDA=1: one GPU asked
                assert tag == 'skipped', test_id
                assert 'needs 2 CUDA device(s)' in message
            else:
                assert tag in ('failure', 'error'), (test_id, tag)
                assert 'MMDTF_REQUIRE_CUDA=1' in message, (test_id, message)
    assert sum(len(r) for r in outcomes.values()) > 50
