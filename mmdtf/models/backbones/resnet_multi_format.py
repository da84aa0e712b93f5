"""MMAction2's 2D ``ResNet`` and ``ResNetTSM`` reading a 2D ``pretrained``
checkpoint in torchvision, timm or MMPretrain key format (the stock ones
read torchvision's only): the backbones of the TSN / TSM + TCP configs, so
that an offline user can point them at whichever file they have."""
from mmaction.models.backbones import ResNet, ResNetTSM
from mmaction.registry import MODELS

from ..weights.resnet2d import ResNet2dInit


@MODELS.register_module()
@MODELS.register_module(name='ResNetMultiLayout')  # the old name
class ResNetMultiFormat(ResNet2dInit, ResNet):
    """MMAction2's ``ResNet``, same arguments and ``state_dict``."""


@MODELS.register_module()
@MODELS.register_module(name='ResNetTSMMultiLayout')  # the old name
class ResNetTSMMultiFormat(ResNet2dInit, ResNetTSM):
    """MMAction2's ``ResNetTSM``, same arguments and ``state_dict``;
    ``pretrained=None`` initialises (the stock one fails unless
    ``pretrained2d=False``)."""


#: the old names, for code that imports them
ResNetMultiLayout = ResNetMultiFormat
ResNetTSMMultiLayout = ResNetTSMMultiFormat

__all__ = ['ResNetMultiFormat', 'ResNetTSMMultiFormat', 'ResNetMultiLayout',
           'ResNetTSMMultiLayout']
