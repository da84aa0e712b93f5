"""2D ResNet ImageNet weights for a ResNet of MMAction2's ``ConvModule``
blocks (``ResNet``, ``ResNetTSM``, ``ResNetTIN``, ``ResNetDTF``): the key
formats read (torchvision, timm, MMPretrain;
docs/user_guides/pretrained.md) and the loader.

MMAction2's own loaders read torchvision's format only, and ``ResNetTSM``'s
silently skips what it does not find (an MMPretrain file then loads nothing).
:class:`ResNet2dInit` replaces both hooks (``ResNet._load_torchvision_
checkpoint``, ``ResNetTSM.load_original_weights``) with one reader that
requires every convolution and norm of the 2D ResNet and checks its shape.
"""
import re
from typing import Dict, List, Optional, Tuple

import torch
from mmcv.cnn import ConvModule
from mmengine.logging import MMLogger
from torch import nn

from .checkpoint_file import (PRETRAINED_KEY, StateDict, log_loaded,
                              read_pretrained, unwrap_state_dict)
from .inflation import inflate_2d_kernel

#: the 2D ResNet key formats :func:`resnet2d_state_dict` reads (timm's
#: ResNets use torchvision's names)
RESNET_FORMATS = ('torchvision/timm', 'mmpretrain')
#: torchvision's names of a 2D ResNet's ConvModules (the stem, the blocks'
#: convolutions and shortcuts); others (e.g. TSM's non-local blocks) are new
TORCHVISION_CONV = re.compile(r'conv1|layer\d+\.\d+\.(conv\d+|downsample)')


def resnet2d_state_dict(checkpoint: Dict) -> Tuple[StateDict, str]:
    """A 2D ResNet checkpoint in torchvision's names (``conv1``, ``bn1``,
    ``layerX.Y.convN`` / ``bnN``, ``downsample.0`` / ``.1``), and the key
    format it was in: torchvision and timm (the same names), or MMPretrain
    (the same under ``backbone.``, classifier under ``head.``). Anything else
    is returned as it is, for the caller's key check to report."""
    state_dict = unwrap_state_dict(checkpoint)
    if any(k.startswith('backbone.') for k in state_dict):
        return ({k[len('backbone.'):]: v for k, v in state_dict.items()
                 if k.startswith('backbone.')}, 'mmpretrain')
    return state_dict, 'torchvision/timm'


class ResNet2dInit:
    """Mixin, before MMAction2's ``ResNet`` (or a subclass) in the bases:
    ``pretrained`` may be a 2D ResNet checkpoint of any known key format.

    A 3D convolution (a tubelet stem) takes the 2D kernel inflated over its
    temporal taps (:func:`~.inflation.inflate_2d_kernel`). Subclasses whose
    ``ConvModule.conv`` wraps the 2D convolution other than by MMAction2's
    ``_get_wrap_prefix`` wrappers override :meth:`_plain_conv`.
    """

    def _load_torchvision_checkpoint(
            self, logger: Optional[MMLogger] = None) -> None:
        """``ResNet.init_weights``' hook for a ``pretrained`` string."""
        self.load_resnet2d(logger)

    def load_original_weights(self, logger: Optional[MMLogger] = None) -> None:
        """``ResNetTSM.init_weights``' hook (``ResNetTIN`` too)."""
        self.load_resnet2d(logger)

    def init_weights(self) -> None:
        if self.pretrained is None and getattr(self, 'pretrained2d', False):
            # ResNetTSM would read 2D weights from None (pretrained2d is
            # True by default) and fail; no checkpoint: initialise.
            self.pretrained2d = False
        super().init_weights()

    def _wrappers(self) -> List[str]:
        # ResNetTSM / ResNetTIN wrap convolutions (TSM's shift `.net`, TIN's
        # interlace `.net2`, non-local blocks `.block`) and name the
        # wrappers' attributes in `_get_wrap_prefix`.
        return getattr(self, '_get_wrap_prefix', lambda: [])()

    def _plain_conv(self, module: ConvModule) -> nn.Module:
        """The convolution of ``module`` that holds the 2D kernel."""
        conv = module.conv
        for wrapper in self._wrappers():
            conv = getattr(conv, wrapper.lstrip('.'), conv)
        return conv

    def _load_2d_conv(self, conv: nn.Module, state_dict: Dict, name: str,
                      loaded: List[str]) -> None:
        if conv.weight.dim() == 4:
            self._check_shape(conv.weight, state_dict, f'{name}.weight')
            self._load_conv_params(conv, state_dict, name, loaded)
            return
        # (C, C', t, kh, kw): the 2D kernel spread over the t taps, divided
        # by t, so a clip of identical frames gives the 2D network's features
        self._check_shape(conv.weight[:, :, 0], state_dict, f'{name}.weight')
        with torch.no_grad():
            conv.weight.copy_(inflate_2d_kernel(state_dict[f'{name}.weight'],
                                                conv.weight.shape[2]))
        loaded.append(f'{name}.weight')
        if conv.bias is not None:
            self._check_shape(conv.bias, state_dict, f'{name}.bias')
            with torch.no_grad():
                conv.bias.copy_(state_dict[f'{name}.bias'])
            loaded.append(f'{name}.bias')

    def _torchvision_name(self, name: str) -> str:
        for wrapper in self._wrappers():
            name = name.replace(wrapper, '')
        return name

    def load_resnet2d(self, logger: Optional[MMLogger] = None) -> None:
        """Load ``self.pretrained``, a 2D ResNet of this depth in
        torchvision, timm or MMPretrain format, into every ConvModule that
        a 2D ResNet has; raise naming the file and the key when one is
        missing or of another shape."""
        logger = logger or MMLogger.get_current_instance()
        model = type(self).__name__
        state_dict, key_format = resnet2d_state_dict(read_pretrained(
            self.pretrained, f'a 2D ResNet-{self.depth} checkpoint in '
            'torchvision format, or timm\'s or MMPretrain\'s (a path, a URL '
            f'or `torchvision://resnet{self.depth}`; '
            'docs/user_guides/pretrained.md)'))
        stem = state_dict.get('conv1.weight')
        if stem is None or stem.dim() != 4:
            raise ValueError(
                f'{self.pretrained} is not a 2D ResNet checkpoint in '
                'torchvision format, nor timm or MMPretrain (no 4-D '
                '`conv1.weight` or `backbone.conv1.weight`); set '
                f'`{PRETRAINED_KEY}` to one, or to None.')
        loaded: List[str] = []
        for name, module in self.named_modules():
            if not isinstance(module, ConvModule):
                continue
            tv_name = self._torchvision_name(name)
            if not TORCHVISION_CONV.fullmatch(tv_name):
                continue
            if 'downsample' in tv_name:
                conv_name, bn_name = f'{tv_name}.0', f'{tv_name}.1'
            else:  # conv1 -> bn1, layerX.Y.convN -> layerX.Y.bnN
                conv_name, bn_name = tv_name, tv_name.replace('conv', 'bn')
            self._load_2d_conv(self._plain_conv(module), state_dict,
                               conv_name, loaded)
            self._check_shape(module.bn.weight, state_dict,
                              f'{bn_name}.weight')
            self._load_bn_params(module.bn, state_dict, bn_name, loaded)
        log_loaded(model, len(loaded), self.pretrained, key_format,
                   sorted(set(state_dict) - set(loaded)), logger)

    def _check_shape(self, param: torch.Tensor, state_dict: Dict,
                     key: str) -> None:
        model = type(self).__name__
        if key not in state_dict:
            raise KeyError(
                f'{self.pretrained} has no `{key}`: not a 2D ResNet-'
                f'{self.depth} checkpoint (torchvision, timm or MMPretrain '
                f'format); set `{PRETRAINED_KEY}` to one, or to None.')
        if state_dict[key].shape != param.shape:
            raise ValueError(
                f'{self.pretrained}: `{key}` has shape '
                f'{tuple(state_dict[key].shape)}, {model}-{self.depth} '
                f'expects {tuple(param.shape)}; is it a ResNet-{self.depth}? '
                f'Set `{PRETRAINED_KEY}` or `model.backbone.depth`.')
