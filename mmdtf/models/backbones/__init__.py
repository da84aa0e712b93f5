from .resnet_dtf import ResNetDTF
from .resnet_multi_layout import ResNetMultiLayout, ResNetTSMMultiLayout
from .resnet_tin import ResNetTINTorch
from .swin_dtf import SwinDTF
from .x3d_coarse_fine import X3DCoarseFine

__all__ = ['ResNetDTF', 'SwinDTF', 'ResNetTINTorch', 'ResNetMultiLayout',
           'ResNetTSMMultiLayout', 'X3DCoarseFine']
