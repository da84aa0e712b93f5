from .resnet_dtf import ResNetDTF
from .swin_dtf import SwinDTF

__all__ = ['ResNetDTF', 'SwinDTF']
