"""The estimator's scale-free input (``dtf_cfg.estimator_norm``): with
``'rms'`` the dynamic filters' update is linear in the block's input, as a
convolution's; fed the raw feature it grows with the input's square (the
overflow docs/channel_mixing.md describes)."""
import pytest
import torch

from mmdtf.models import DTFBlock

SCALE = 1e3


def update(block, x):
    """``gamma * f'``: what the block adds to its input."""
    with torch.no_grad():
        return block(x) - x - block.beta


def random_block(filter_type, estimator_norm, channel_mixing=None):
    torch.manual_seed(0)
    kwargs = dict(channel_mixing=channel_mixing) if channel_mixing else {}
    # no aggregation: FA's softmax has a temperature (corr grows with the
    # square of x), so only without it is the filter exactly scale-free
    block = DTFBlock(8, 4, group_factor=4, filter_type=filter_type,
                     aggregate=False, estimator_norm=estimator_norm,
                     **kwargs).double()
    with torch.no_grad():
        for param in block.parameters():
            param.normal_(std=0.3)
    return block.eval()


CASES = {'dynamic': dict(filter_type='dynamic', channel_mixing=False),
         'dynamic-mixing': dict(filter_type='dynamic',
                                channel_mixing=dict(norm='none')),
         'dynamic_conv1d': dict(filter_type='dynamic_conv1d')}


@pytest.mark.parametrize('case', CASES)
def test_rms_update_is_linear_in_the_input(case):
    block = random_block(estimator_norm='rms', **CASES[case])
    x = torch.randn(2, 8, 4, 3, 3, dtype=torch.float64)
    big = update(block, SCALE * x)
    # up to the rms's eps (1e-6 against a mean square of ~1)
    torch.testing.assert_close(big, SCALE * update(block, x), rtol=0,
                               atol=1e-6 * big.abs().max().item())


@pytest.mark.parametrize('case', CASES)
def test_raw_estimator_update_grows_with_the_square(case):
    block = random_block(estimator_norm='none', **CASES[case])
    with torch.no_grad():  # no bias: the filter is then exactly linear
        block.filter.estimator.bias.zero_()
    x = torch.randn(2, 8, 4, 3, 3, dtype=torch.float64)
    big = update(block, SCALE * x)
    # the correlation's part of the filter grows with the square of x
    assert big.abs().max() > SCALE**1.5 * update(block, x).abs().max()


def test_all_zero_location_stays_zero():
    """A location whose feature is all zeros (after a ReLU) gives a zero
    estimator input there, not NaN."""
    block = random_block('dynamic', 'rms', channel_mixing=False)
    x = torch.randn(1, 8, 4, 3, 3, dtype=torch.float64)
    x[..., 1, 1] = 0
    out = update(block, x)
    assert torch.isfinite(out).all()
    assert out[..., 1, 1].abs().max() == 0


def test_unknown_estimator_norm_names_the_config_key():
    with pytest.raises(ValueError, match='dtf_cfg.estimator_norm'):
        DTFBlock(8, 4, group_factor=4, estimator_norm='layer')


def test_static_filter_refuses_estimator_norm():
    with pytest.raises(ValueError, match='estimator_norm'):
        DTFBlock(8, 4, filter_type='static', estimator_norm='rms')
