"""The estimator's scale-free input (``dtf_cfg.estimator_norm``): with
``'rms'`` the dynamic filters' update is linear in the block's input, as a
convolution's; fed the raw feature it grows with the input's square (the
overflow docs/reports/channel_mixing.md describes)."""
import pytest
import torch

from mmdtf.models import DTFBlock
from mmdtf.models.blocks.estimator_input import EstimatorInput

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


def _two_sgd_steps_then_eval(estimator_norm):
    """DTF-Net R18 from random init, two SGD steps at the K400 recipe's lr
    (0.04, momentum 0.9) on two 16 x 64^2 clips of pixel-scale values, then
    the eval-mode feature."""
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='Recognizer3D',
        backbone=dict(type='ResNetDTF', depth=18, clip_len=16,
                      temporal_stride=4, pretrained=None,
                      dtf_cfg=dict(estimator_norm=estimator_norm)),
        cls_head=dict(type='I3DHead', num_classes=4, in_channels=512),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCTHW')))
    model.init_weights()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.04, momentum=0.9)
    clips = 50 * torch.randn(2, 1, 3, 16, 64, 64)
    samples = [ActionDataSample().set_gt_label(torch.tensor([i]))
               for i in range(2)]
    for _ in range(2):
        loss = model(clips, samples, mode='loss')['loss_cls']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return model.extract_feat(clips)[0]


def test_short_training_at_the_k400_lr_stays_finite():
    """The overflow the rms removes: fed the raw feature, the same two steps
    give NaN in eval mode."""
    assert torch.isfinite(_two_sgd_steps_then_eval('rms')).all()
    assert not torch.isfinite(_two_sgd_steps_then_eval('none')).all()


@pytest.mark.parametrize('norm', ['rms', 'none'])
@pytest.mark.parametrize('with_corr', [True, False])
@pytest.mark.parametrize('layout', [(0, 1, 2, 3, 4), (0, 2, 1, 3, 4),
                                    (0, 2, 3, 4, 1)],
                         ids=['standard', 'frames', 'channels_last'])
def test_estimate_is_the_estimator_on_the_built_input(norm, with_corr,
                                                      layout):
    """EstimatorInput(y, corr, conv) (no z built) equals the 1x1
    convolution of z = EstimatorInput(y, corr), in every layout."""
    torch.manual_seed(0)
    c, k2, t = 6, 9, 4
    y = torch.randn(2, c, t, 5, 7, dtype=torch.float64)
    y = y.permute(*layout).contiguous().permute(
        *sorted(range(5), key=layout.__getitem__))
    corr = torch.randn(2, k2, t, 5, 7, dtype=torch.float64) \
        if with_corr else None
    conv = torch.nn.Conv2d((c + (k2 if with_corr else 0)) * t, 10, 1)
    conv = conv.double()
    module = EstimatorInput(norm)
    torch.testing.assert_close(module(y, corr, conv),
                               conv(module(y, corr)), rtol=1e-12,
                               atol=1e-12)
