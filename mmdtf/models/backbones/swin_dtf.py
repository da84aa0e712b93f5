"""DTF-Transformer: a per-frame 2D Swin with DTF blocks (spec section 4).

Built on MMAction2's ``SwinTransformer3D`` with ``patch_size=(s, 4, 4)`` and
``window_size=(1, 7, 7)``: a (s, 4, 4) tubelet embedding (with its LayerNorm)
followed by a 2D Swin Transformer on every one of the ``T = clip_len / s``
frames. Its blocks are replaced by :class:`SwinDTFBlock3D`, MMAction2's block
with a DTF block after W-MSA's residual add in every block whose window is
regular (unshifted) at the configured input size.
"""
import logging
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from mmaction.models.backbones.swin import (SwinTransformer3D,
                                            SwinTransformerBlock3D,
                                            get_window_size)
from mmaction.registry import MODELS
from mmengine.logging import MMLogger, print_log
from mmengine.runner.checkpoint import load_checkpoint
from mmengine.utils import to_2tuple

from ..blocks import DTFBlock
from ..weights.swin2d import Swin2dInit
from .activation_checkpointing import checkpoint_once
from .dtf_backbone import DTFBackbone

IMG_SIZE_KEY = 'model.backbone.img_size'
#: per stage, per block: whether the block has a DTF block
DTFPlacement = Tuple[Tuple[bool, ...], ...]


class SwinDTFBlock3D(SwinTransformerBlock3D):
    """MMAction2's Swin block with an optional DTF block between its two
    residual branches::

        x = x + drop_path(W-MSA(norm1(x)))
        x = DTF(x)                      # tokens seen as (N, C, T, H, W)
        x = x + drop_path(MLP(norm2(x)))

    Args:
        dtf: the DTF block, or None for a plain Swin block.
        *args, **kwargs: the arguments of ``SwinTransformerBlock3D``.
    """

    def __init__(self, *args, dtf: Optional[DTFBlock] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.dtf = dtf

    def forward_dtf(self, x: torch.Tensor) -> torch.Tensor:
        """DTF on (B, T, H, W, C) tokens; both permutes are views."""
        return self.dtf(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)

    def _run(self, function, *args):
        if not (self.with_cp and torch.is_grad_enabled()):
            return function(*args)
        # The DTF block's batch norm must not count the recomputation.
        return checkpoint_once(function, *args, module=self)

    def forward(self, x: torch.Tensor,
                mask_matrix: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x: tokens of shape (B, T, H, W, C).
            mask_matrix: attention mask of the shifted windows.
        """
        x = x + self.drop_path(self._run(self.forward_part1, x, mask_matrix))
        if self.dtf is not None:
            x = self._run(self.forward_dtf, x)
        return x + self._run(self.forward_part2, x)


@MODELS.register_module()
class SwinDTF(DTFBackbone, Swin2dInit, SwinTransformer3D):
    """Swin Transformer with Dynamic Temporal Filtering (DTF-Transformer).

    Input ``(N, 3, clip_len, H, W)``; output ``(N, C, T, H/32, W/32)`` (after
    the last stage's LayerNorm) with ``T = clip_len / temporal_stride``, for
    ``Recognizer3D`` + ``I3DHead``.

    A DTF block follows W-MSA in every block whose window is regular at
    ``img_size``: the even blocks of each stage, and also the odd ones of a
    stage whose token map is no larger than the window (MMAction2 then drops
    the shift; at 224 px this is the last stage, 7 x 7 tokens). Other input
    sizes work, with DTF where ``img_size`` put it; a warning says when that
    differs from the rule at the actual size. Sizes that do not divide
    evenly are padded as in MMAction2 (and Swin's own detection code): the
    patch embedding and patch merging pad the map, and windows at the border
    are filled with zero tokens that take part in their attention.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` or a dict with
            ``embed_dims``, ``depths`` and ``num_heads``.
        clip_len: frames per input clip (the pipeline's ``SampleFrames``
            ``clip_len``); a multiple of ``temporal_stride``.
        temporal_stride: ``s``, depth of the tubelet embedding (kernel =
            stride = (s, patch_size, patch_size)), the only temporal
            down-sampling.
        img_size: input height and width (int or pair) that decide which
            blocks get DTF.
        dtf_cfg: keyword arguments of :class:`DTFBlock`: ``variant``
            (the block: ``'mmdtf'``, ``'paper'``, ``'authors'``;
            docs/models/dtf_blocks.md), ``kernel_size``, ``group_factor``,
            ``filter_type``, ``aggregate``, ``use_corr``, ``backend``, ...
        pretrained: a checkpoint path or URL. With ``pretrained2d`` a 2D
            ImageNet Swin in official, timm or MMPretrain key format,
            inflated (:class:`~mmdtf.models.weights.swin2d.Swin2dInit`);
            otherwise a SwinDTF checkpoint (a recognizer's ``backbone.`` keys
            are taken).
        pretrained2d: whether ``pretrained`` is a 2D Swin checkpoint.
        patch_size: spatial patch size.
        window_size: spatial window size (windows are one frame deep).
        drop_path_rate: stochastic depth rate, linear over the blocks.
        with_cp: gradient checkpointing of attention, DTF and MLP (saves
            memory on long clips, costs a second forward).
        mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, act_cfg,
            norm_cfg: as in MMAction2's ``SwinTransformer3D``.
        **kwargs: its other arguments (``patch_norm``, ``frozen_stages``,
            ``out_indices``, ``out_after_downsample``, ``init_cfg``, ...).
    """

    def __init__(self,
                 arch: Union[str, Dict] = 'base',
                 clip_len: int = 64,
                 temporal_stride: int = 4,
                 img_size: Union[int, Sequence[int]] = 224,
                 dtf_cfg: Optional[Dict] = None,
                 pretrained: Optional[str] = None,
                 pretrained2d: bool = True,
                 patch_size: int = 4,
                 window_size: int = 7,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 qk_scale: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 act_cfg: Dict = dict(type='GELU'),
                 norm_cfg: Dict = dict(type='LN'),
                 with_cp: bool = False,
                 **kwargs) -> None:
        self.set_clip(clip_len, temporal_stride, dtf_cfg)
        if isinstance(arch, str) and arch.lower() not in self.arch_zoo:
            raise ValueError(
                f'SwinDTF: unknown arch {arch!r}; set `model.backbone.arch` '
                "to 'tiny', 'small', 'base', 'large' or a dict of "
                'embed_dims, depths and num_heads.')
        for name, value in (('patch_size', patch_size),
                            ('window_size', window_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(
                    f'SwinDTF: {name} is the spatial size (an int), got '
                    f'{value!r}; set `model.backbone.{name}` (time is fixed: '
                    'tubelets of temporal_stride frames, one-frame windows).')
        self.img_size = _pair(img_size)
        self.arch_name = arch.lower() if isinstance(arch, str) else 'custom'
        super().__init__(
            arch,
            pretrained=pretrained,
            pretrained2d=pretrained2d,
            patch_size=(temporal_stride, patch_size, patch_size),
            window_size=(1, window_size, window_size),
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
            act_cfg=act_cfg,
            norm_cfg=norm_cfg,
            with_cp=with_cp,
            **kwargs)
        self.dtf_placement = self.unshifted_blocks(self.img_size)
        self._checked_sizes = {self.img_size}
        self._add_dtf_blocks(
            dict(mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, qk_scale=qk_scale,
                 drop=drop_rate, attn_drop=attn_drop_rate, act_cfg=act_cfg,
                 norm_cfg=norm_cfg, with_cp=with_cp))
        self._freeze_stages()  # again: the blocks are new

    def unshifted_blocks(self, img_size: Sequence[int]) -> DTFPlacement:
        """Per stage and block, whether the block's window is regular (not
        shifted) for an input of ``img_size``, as MMAction2 decides it:
        ``get_window_size`` drops the shift along an axis whose token map is
        no larger than the window."""
        patch = self.patch_size
        h = -(-img_size[0] // patch[1])  # the patch embedding pads
        w = -(-img_size[1] // patch[2])
        unshifted = []
        for layer in self.layers:
            stage = []
            for block in layer.blocks:
                _, shift = get_window_size((self.num_frames, h, w),
                                           block.window_size, block.shift_size)
                stage.append(not any(shift))
            unshifted.append(tuple(stage))
            h, w = -(-h // 2), -(-w // 2)  # patch merging pads odd sizes
        return tuple(unshifted)

    def _add_dtf_blocks(self, block_cfg: Dict) -> None:
        """Rebuild each stage's blocks as :class:`SwinDTFBlock3D` with the
        same settings, with a DTF block where ``dtf_placement`` says.

        (MMAction2's ``BasicLayer`` builds its blocks inline, with no way to
        choose their class.)
        """
        for layer, with_dtf in zip(self.layers, self.dtf_placement):
            for j, block in enumerate(layer.blocks):
                dtf = self.dtf_block(layer.embed_dims) if with_dtf[j] else None
                layer.blocks[j] = SwinDTFBlock3D(
                    embed_dims=block.embed_dims,
                    num_heads=block.num_heads,
                    window_size=block.window_size,
                    shift_size=block.shift_size,
                    drop_path=getattr(block.drop_path, 'drop_prob', 0.),
                    dtf=dtf,
                    **block_cfg)

    def _check_placement(self, size: Tuple[int, int]) -> None:
        if size in self._checked_sizes:
            return
        self._checked_sizes.add(size)
        if self.unshifted_blocks(size) != self.dtf_placement:
            print_log(
                f'SwinDTF was built for {self.img_size[0]}x{self.img_size[1]}'
                f' inputs and got {size[0]}x{size[1]}: at this size another '
                'set of blocks has unshifted windows, and DTF stays where it '
                f'was placed. Set `{IMG_SIZE_KEY}` to the crop size if this '
                'is the size the model is meant for.',
                logger='current',
                level=logging.WARNING)

    def init_weights(self) -> None:
        """Random init (TruncNormal linears, unit LayerNorms), every DTF block
        the identity, then the checkpoint, if any."""
        # Not SwinTransformer3D.init_weights: it loads a 2D checkpoint even
        # when none is given.
        super(SwinTransformer3D, self).init_weights()
        self.reset_dtf_blocks()
        if not self.pretrained:
            return
        logger = MMLogger.get_current_instance()
        if self.pretrained2d:
            self.load_swin2d(logger)
        else:
            load_checkpoint(self, self.pretrained, map_location='cpu',
                            strict=False, logger=logger,
                            revise_keys=[(r'^module\.', ''),
                                         (r'^backbone\.', '')])

    def forward(self, x: torch.Tensor) -> \
            Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        self.check_clip(x)
        # A log call cannot be traced (it would break a torch.compile
        # graph): compiled steps leave the message to the eager ones (with
        # MMEngine's `compile` key, validation and testing).
        if not torch.compiler.is_compiling():
            self._check_placement(tuple(x.shape[-2:]))
        return super().forward(x)


def _pair(size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    size = tuple(to_2tuple(size))
    if len(size) != 2:
        raise ValueError(f'SwinDTF: img_size must be an int or (H, W), got '
                         f'{size!r}; set `{IMG_SIZE_KEY}`.')
    return int(size[0]), int(size[1])
