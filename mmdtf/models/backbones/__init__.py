from .resnet_dtf import ResNetDTF
from .resnet_tin import ResNetTINTorch
from .swin_dtf import SwinDTF

__all__ = ['ResNetDTF', 'SwinDTF', 'ResNetTINTorch']
