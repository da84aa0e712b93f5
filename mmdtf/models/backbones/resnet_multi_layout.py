"""MMAction2's 2D ``ResNet`` and ``ResNetTSM`` reading a 2D ``pretrained``
checkpoint in torchvision, timm or MMPretrain layout (the stock ones read
torchvision's only): the backbones of the TSN / TSM + TCP configs, so that
an offline user can point them at whichever file they have."""
from mmaction.models.backbones import ResNet, ResNetTSM
from mmaction.registry import MODELS

from .resnet2d_init import ResNet2dInit


@MODELS.register_module()
class ResNetMultiLayout(ResNet2dInit, ResNet):
    """MMAction2's ``ResNet``, same arguments and ``state_dict``."""


@MODELS.register_module()
class ResNetTSMMultiLayout(ResNet2dInit, ResNetTSM):
    """MMAction2's ``ResNetTSM``, same arguments and ``state_dict``;
    ``pretrained=None`` initialises (the stock one fails unless
    ``pretrained2d=False``)."""


__all__ = ['ResNetMultiLayout', 'ResNetTSMMultiLayout']
