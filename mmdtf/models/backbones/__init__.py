from .resnet_dtf import ResNetDTF
from .resnet_multi_layout import ResNetMultiLayout, ResNetTSMMultiLayout
from .resnet_tin import ResNetTINTorch
from .swin_dtf import SwinDTF

__all__ = ['ResNetDTF', 'SwinDTF', 'ResNetTINTorch', 'ResNetMultiLayout',
           'ResNetTSMMultiLayout']
