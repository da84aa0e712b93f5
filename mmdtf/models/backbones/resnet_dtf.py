"""DTF-Net: a 2D ResNet with a tubelet stem and DTF blocks (spec section 3).

Like MMAction2's ``ResNetTSM``, it subclasses the stock 2D ``ResNet`` and wraps
convolutions of its blocks. The body runs frames as a batch of ``N * T`` images
(2D convolutions are faster than (1, 3, 3) 3D ones); only the stem and the DTF
blocks see the time axis.
"""
from typing import Dict, Optional, Sequence

import torch
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from torch import nn

from ..blocks import DTFBlock
from ..weights.resnet2d import ResNet2dInit
from .activation_checkpointing import checkpoint_once
from .dtf_backbone import CLIP_LEN_KEY, DTFBackbone


class ConvWithDTF(nn.Module):
    """A block's 2D convolution followed by a DTF block on its output.

    Sits where the convolution sat inside a ``ConvModule``, so the DTF block
    comes after the convolution and before its norm (spec section 3).
    """

    def __init__(self, conv: nn.Conv2d, dtf: DTFBlock) -> None:
        super().__init__()
        self.conv = conv
        self.dtf = dtf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        nt, c, h, w = x.shape
        t = self.dtf.num_frames
        if nt % t:
            raise ValueError(
                f'ResNetDTF got a batch of {nt} frames, not a multiple of the '
                f'{t} frames per clip it was built for; set `{CLIP_LEN_KEY}`.')
        # (N*T, C, H, W) -> (N, C, T, H, W) as a view; DTF handles strides.
        clip = x.view(nt // t, t, c, h, w).transpose(1, 2)
        out = self.dtf(clip)
        return out.transpose(1, 2).reshape(nt, c, h, w)


def _norm_cfg_3d(norm_cfg: Dict) -> Dict:
    """The stem is 3D: BN/BN2d become BN3d; SyncBN and others work as they are."""
    cfg = dict(norm_cfg)
    if cfg.get('type') in ('BN', 'BN2d'):
        cfg['type'] = 'BN3d'
    return cfg


@MODELS.register_module()
class ResNetDTF(DTFBackbone, ResNet2dInit, ResNet):
    """ResNet with Dynamic Temporal Filtering (DTF-Net).

    Input ``(N, 3, clip_len, H, W)``; output ``(N, C, T, H/32, W/32)`` with
    ``T = clip_len / temporal_stride``, for ``Recognizer3D`` + ``I3DHead``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        clip_len: frames per input clip (the pipeline's ``SampleFrames``
            ``clip_len``); must be a multiple of ``temporal_stride``.
        temporal_stride: ``s``: the stem's temporal kernel and stride, the
            only temporal down-sampling (default 4: 16 frames -> T = 4).
        dtf_stages: per stage, whether its blocks get DTF (paper table 1c).
        dtf_cfg: keyword arguments of :class:`DTFBlock`: ``variant``
            (the block: ``'mmdtf'``, ``'paper'``, ``'authors'``;
            docs/models/dtf_blocks.md), ``kernel_size``, ``group_factor``,
            ``filter_type``, ``aggregate``, ``use_corr``, ``backend``, ...
        pretrained: a 2D ResNet checkpoint (path, URL or
            ``torchvision://resnet50``) in torchvision, timm or MMPretrain
            key format (docs/user_guides/pretrained.md), inflated at
            ``init_weights``.
        with_cp: activation checkpointing of every residual block (any
            depth; MMAction2's ResNet has it for Bottleneck blocks only),
            with batch-norm statistics counted once per step.
        **kwargs: the other arguments of MMAction2's ``ResNet``.
    """

    def __init__(self,
                 depth: int,
                 clip_len: int = 16,
                 temporal_stride: int = 4,
                 dtf_stages: Sequence[bool] = (True, True, True, True),
                 dtf_cfg: Optional[Dict] = None,
                 pretrained: Optional[str] = None,
                 with_cp: bool = False,
                 init_cfg=(dict(type='Kaiming', layer=['Conv2d', 'Conv3d']),
                           dict(type='Constant', layer=['BatchNorm2d',
                                                        'BatchNorm3d'],
                                val=1.)),
                 **kwargs) -> None:
        if depth not in self.arch_settings:
            raise ValueError(
                f'ResNetDTF: invalid depth {depth!r}; set '
                '`model.backbone.depth` to one of '
                f'{sorted(self.arch_settings)}.')
        self.set_clip(clip_len, temporal_stride, dtf_cfg)
        if isinstance(init_cfg, tuple):  # the default: MMEngine wants a list
            init_cfg = list(init_cfg)
        # The blocks' own checkpointing would count batch norms twice (and
        # BasicBlock has none): forward checkpoints them instead.
        super().__init__(depth, pretrained=pretrained, init_cfg=init_cfg,
                         with_cp=False, **kwargs)
        self.with_cp = with_cp
        if len(dtf_stages) != self.num_stages:
            raise ValueError(
                f'ResNetDTF: dtf_stages has {len(dtf_stages)} entries for '
                f'{self.num_stages} stages; set `model.backbone.dtf_stages`.')
        self.dtf_stages = tuple(bool(s) for s in dtf_stages)
        self._add_dtf_blocks()

    def _make_stem_layer(self) -> None:
        # Non-overlapping tubelets: kernel = stride = s in time, no padding.
        s = self.temporal_stride
        self.conv1 = ConvModule(
            self.in_channels,
            64,
            kernel_size=(s, 7, 7),
            stride=(s, 2, 2),
            padding=(0, 3, 3),
            bias=False,
            conv_cfg=dict(type='Conv3d'),
            norm_cfg=_norm_cfg_3d(self.norm_cfg),
            act_cfg=self.act_cfg)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

    def _add_dtf_blocks(self) -> None:
        """Wrap the first 3x3 conv of every block of the chosen stages."""
        for stage, with_dtf in enumerate(self.dtf_stages):
            if not with_dtf:
                continue
            for block in getattr(self, self.res_layers[stage]):
                if isinstance(block, Bottleneck):
                    conv_module = block.conv2
                elif isinstance(block, BasicBlock):
                    conv_module = block.conv1
                else:
                    raise TypeError(f'ResNetDTF cannot place DTF in a '
                                    f'{type(block).__name__}.')
                conv_module.conv = ConvWithDTF(
                    conv_module.conv,
                    self.dtf_block(conv_module.conv.out_channels))

    def _plain_conv(self, module: ConvModule) -> nn.Module:
        conv = module.conv
        return conv.conv if isinstance(conv, ConvWithDTF) else conv

    def init_weights(self) -> None:
        """Kaiming init, or a 2D ResNet's weights (its (kh, kw) kernels act
        per frame, its 7x7 stem is inflated over the s taps of the tubelet
        stem); then every DTF block the identity."""
        super().init_weights()
        self.reset_dtf_blocks()

    def _run_layer(self, layer: nn.Sequential,
                   x: torch.Tensor) -> torch.Tensor:
        if not (self.with_cp and x.requires_grad):  # as MMAction2's blocks
            return layer(x)
        for block in layer:
            x = checkpoint_once(block, x, module=block)
        return x

    def forward(self, x: torch.Tensor):
        self.check_clip(x)
        x = self.conv1(x)
        n, c, t, h, w = x.shape
        x = x.transpose(1, 2).reshape(n * t, c, h, w)
        x = self.maxpool(x)
        outs = []
        for i, layer_name in enumerate(self.res_layers):
            x = self._run_layer(getattr(self, layer_name), x)
            if i in self.out_indices:
                _, c, h, w = x.shape
                outs.append(x.view(n, t, c, h, w).transpose(1, 2).contiguous())
        return outs[0] if len(outs) == 1 else tuple(outs)
