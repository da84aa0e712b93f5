"""tests/helpers.py and conftest.py: process-wide flags a test sets are
reset before the next test; a port for a launcher is not one the kernel may
hand to another process meanwhile."""
import os
import socket

import cv2
import torch
from mmengine.runner import set_random_seed

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)


def change_every_flag():
    set_random_seed(0, deterministic=True)  # what a Runner does
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.enabled = False
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(torch.get_num_threads() + 1)
    torch.set_grad_enabled(False)
    torch.set_anomaly_enabled(True, True)
    cv2.setNumThreads(cv2.getNumThreads() + 1)
    os.environ['MMDTF_TEST_LEFT_OVER'] = '1'


def test_restore_sets_back_every_flag():
    flags = helpers.global_flags()
    change_every_flag()
    changed = helpers.global_flags()
    for name, value in flags.items():
        assert changed[name] != value, name
    helpers.restore_global_flags(flags)
    assert helpers.global_flags() == flags


def test_a_test_that_changes_flags_and_leaves_them():
    change_every_flag()  # conftest.py's autouse fixture restores them


def test_the_next_test_sees_the_defaults():
    """After the test above (and after any other test): PyTorch's
    defaults."""
    flags = helpers.global_flags()
    assert flags['deterministic_algorithms'] == (False, False)
    assert flags['cudnn'] == (True, False, False)
    assert flags['default_dtype'] == torch.float32
    assert flags['grad_enabled'] is True
    assert flags['anomaly'] == (False, True)  # check_nan's default: True
    assert 'MMDTF_TEST_LEFT_OVER' not in os.environ


def test_free_port_is_free_and_not_ephemeral():
    ephemeral = helpers.ephemeral_ports()
    ports = {helpers.free_port() for _ in range(20)}
    assert len(ports) > 1  # random, not one fixed port
    for port in ports:
        assert port not in ephemeral and port >= 10000
    # a port in use is skipped: the first draw of seed 0, taken
    first = helpers.free_port(seed=0)
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', first))
        sock.listen()
        second = helpers.free_port(seed=0)
    assert second != first and second not in ephemeral
