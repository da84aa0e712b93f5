"""ResNetMultiFormat / ResNetTSMMultiFormat: MMAction2's ResNet / ResNetTSM
(same arguments, same state_dict) under their names and their old ones.
(Their 2D checkpoints of every key format: tests/models/weights/
test_resnet2d.py.)"""
import pytest
import torch
from mmaction.models.backbones import ResNet, ResNetTSM
from mmaction.registry import MODELS

from mmdtf.models import ResNetMultiFormat, ResNetTSMMultiFormat


@pytest.mark.parametrize('cls,stock,old,kwargs', [
    (ResNetMultiFormat, ResNet, 'ResNetMultiLayout', dict()),
    (ResNetTSMMultiFormat, ResNetTSM, 'ResNetTSMMultiLayout',
     dict(num_segments=4)),
])
def test_both_names_build_the_stock_model(cls, stock, old, kwargs):
    assert MODELS.get(cls.__name__) is cls
    assert MODELS.get(old) is cls  # configs and users have the old name
    assert issubclass(cls, stock)
    models = []
    for build in (lambda: MODELS.build(dict(type=cls.__name__, depth=18,
                                            pretrained=None, **kwargs)),
                  lambda: MODELS.build(dict(type=old, depth=18,
                                            pretrained=None, **kwargs)),
                  # the stock ResNetTSM reads 2D weights from None unless
                  # told not to (ours initialises)
                  lambda: stock(depth=18, pretrained=None, **kwargs,
                                **({'pretrained2d': False}
                                   if stock is ResNetTSM else {}))):
        torch.manual_seed(0)
        model = build()
        model.init_weights()
        model.eval()  # (MMAction2's ResNet.train returns None)
        models.append(model)
    new, renamed, reference = models
    assert type(new) is type(renamed) is cls
    x = torch.randn(4, 3, 32, 32)
    expected = reference(x)
    for model in (new, renamed):
        assert model.state_dict().keys() == reference.state_dict().keys()
        torch.testing.assert_close(model(x), expected, rtol=0, atol=0)
