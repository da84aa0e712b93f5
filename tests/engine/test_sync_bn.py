"""Multi-GPU training with synchronised batch norm: the Runner's
``sync_bn='torch'`` converts every BN of a DTF-Net, the DTF blocks'
spectral ``filter.mixing.norm`` included, without changing the checkpoint
layout or the single-process results."""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.model import convert_sync_batchnorm, revert_sync_batchnorm
from torch.nn import SyncBatchNorm
from torch.nn.modules.batchnorm import _BatchNorm

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)


def batch_norms(model):
    return {name: module for name, module in model.named_modules()
            if isinstance(module, _BatchNorm)}


@pytest.fixture(scope='module')
def recognizer(tmp_path_factory):
    """The demo R18 with DTF blocks whose channel mixing has its batch norm
    (an option; the default mixing has no norm)."""
    config = helpers.write_pinned_demo_config(
        tmp_path_factory.mktemp('cfg') / 'demo.py',
        "model['backbone']['dtf_cfg']['channel_mixing'] = "
        "dict(norm='batch')\n")
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    return model


@pytest.mark.parametrize('convert', [
    lambda model: convert_sync_batchnorm(model, 'torch'),  # Runner, sync_bn
    SyncBatchNorm.convert_sync_batchnorm,
])
def test_every_bn_becomes_sync_bn(recognizer, convert):
    model = recognizer
    before = batch_norms(model)
    dtf_norms = [name for name in before
                 if name.endswith('.dtf.filter.mixing.norm')]
    mixings = [m for m in model.modules()
               if type(m).__name__ == 'SpectralChannelMixing']
    assert len(dtf_norms) == len(mixings) >= 2  # one per DTF block
    state = {k: v.clone() for k, v in model.state_dict().items()}

    synced = convert(copy.deepcopy(model))
    after = batch_norms(synced)
    assert after.keys() == before.keys()
    assert all(type(bn) is SyncBatchNorm for bn in after.values())
    for name in dtf_norms:  # the spectral norm stays non-affine
        assert not after[name].affine and after[name].weight is None
        assert after[name].num_features == before[name].num_features
    # same checkpoint layout and values: checkpoints load either way
    synced_state = synced.state_dict()
    assert synced_state.keys() == state.keys()
    for key, value in state.items():
        torch.testing.assert_close(synced_state[key], value, rtol=0, atol=0)


def test_sync_bn_model_runs_alone_and_reverts(recognizer):
    """Not distributed, SyncBN computes what BN computes (MMEngine's Runner
    also reverts it then); reverting restores plain BN layers."""
    inputs = torch.randn(1, 1, 3, 16, 32, 32)  # N, clips, C, T, H, W
    synced = convert_sync_batchnorm(copy.deepcopy(recognizer), 'torch')
    plain = copy.deepcopy(recognizer)
    for mode in ('eval', 'train'):
        getattr(plain, mode)()
        getattr(synced, mode)()
        with torch.no_grad(), helpers.one_thread():
            expected = plain(inputs, mode='tensor')
            got = synced(inputs, mode='tensor')
        torch.testing.assert_close(got, expected)
    reverted = revert_sync_batchnorm(synced)
    assert not any(isinstance(bn, SyncBatchNorm)
                   for bn in batch_norms(reverted).values())
    assert batch_norms(reverted).keys() == batch_norms(recognizer).keys()
