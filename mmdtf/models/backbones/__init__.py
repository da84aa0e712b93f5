from .resnet_dtf import ResNetDTF
from .resnet_multi_format import (ResNetMultiFormat, ResNetMultiLayout,
                                  ResNetTSMMultiFormat, ResNetTSMMultiLayout)
from .resnet_tin import ResNetTINShift, ResNetTINTorch
from .swin_dtf import SwinDTF
from .x3d_coarse_fine import X3DCoarseFine

__all__ = ['ResNetDTF', 'SwinDTF', 'ResNetTINShift', 'ResNetMultiFormat',
           'ResNetTSMMultiFormat', 'X3DCoarseFine',
           # old names, the same classes
           'ResNetTINTorch', 'ResNetMultiLayout', 'ResNetTSMMultiLayout']
