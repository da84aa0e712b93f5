"""2D Swin Transformer ImageNet weights for ``SwinDTF``: the key formats
read and the loader.

Three key formats are read and renamed to the names of MMAction2's
``SwinTransformer3D`` (the parameters keep their 2D shapes; inflation is
:class:`Swin2dInit`'s job):

- ``official``: microsoft/Swin-Transformer (``{'model': ...}``,
  ``layers.{i}.blocks.{j}.attn.qkv``, ``layers.{i}.downsample`` at the *end*
  of stages 0..2, final ``norm``, ``head``). timm < 0.9 saved the same keys.
- ``timm`` (>= 0.9): the official names, but ``layers.{i}.downsample`` sits at
  the *start* of stages 1..3, and the classifier is ``head.fc``.
- ``mmpretrain``: ``backbone.stages.{i}.blocks.{j}.attn.w_msa.qkv``,
  ``ffn.layers.0.0`` / ``ffn.layers.1``, ``patch_embed.projection``,
  ``stages.{i}.downsample``, ``norm3``. Its ``PatchMerging`` gathers each 2x2
  neighbourhood with ``nn.Unfold``: the 4C merged channels are ordered
  (channel, row, column), whereas the official and MMAction2 ones concatenate
  the four positions ``(0, 0), (1, 0), (0, 1), (1, 1)`` (row, column) with the
  channels inside. The merging ``norm`` and ``reduction`` weights are permuted
  back here, so they act on the same features as in MMPretrain.

The format is told from the keys; anything else is refused with the keys
that were expected.
"""
import re
from typing import Tuple

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger

from .checkpoint_file import (StateDict, log_loaded, read_pretrained,
                              some_keys, unwrap_state_dict)
from .inflation import inflate_2d_kernel

SWIN_FORMATS = ('official', 'timm', 'mmpretrain')

# Buffers that every implementation rebuilds from the window size.
_REBUILT = ('relative_position_index', 'attn_mask')
_EXPECTED = (
    'official Swin (`layers.0.blocks.0.attn.qkv.weight`, '
    '`patch_embed.proj.weight`, `layers.0.downsample.reduction.weight`, '
    '`norm.weight`), timm >= 0.9 (the same, with `layers.1.downsample.*` '
    'and `head.fc.*`) or MMPretrain (`backbone.stages.0.blocks.0.attn.w_msa.'
    'qkv.weight`, `backbone.patch_embed.projection.weight`, '
    '`backbone.norm3.weight`)')


def load_swin2d_checkpoint(filename: str) -> Tuple[StateDict, str]:
    """Read a 2D Swin checkpoint; return it in MMAction2 names and its key
    format.

    Classifier heads and rebuilt buffers are dropped. A path that does not
    exist raises ``FileNotFoundError``, a file that is no checkpoint
    ``ValueError``; both name the path and ``model.backbone.pretrained``.
    """
    checkpoint = read_pretrained(
        filename, 'a 2D Swin Transformer ImageNet checkpoint (a local path '
        'or URL, e.g. swin_tiny_patch4_window7_224.pth) in the official, '
        'timm or MMPretrain format')
    state_dict = unwrap_state_dict(checkpoint)
    key_format = detect_format(state_dict, filename)
    return convert_swin2d(state_dict, key_format), key_format


def detect_format(state_dict: StateDict, filename: str) -> str:
    """``'official'``, ``'timm'`` or ``'mmpretrain'``, from the keys."""
    keys = list(state_dict)
    if any('.attn.w_msa.' in k or k.endswith('patch_embed.projection.weight')
           for k in keys):
        return 'mmpretrain'
    if not any(re.fullmatch(r'layers\.\d+\.blocks\.\d+\.attn\.qkv\.weight', k)
               for k in keys):
        sample = ', '.join(f'`{k}`' for k in keys[:6]) or 'none'
        raise ValueError(
            f'{filename} is not a 2D Swin Transformer checkpoint in a known '
            f'key format: expected {_EXPECTED}; found keys {sample}. Set '
            '`model.backbone.pretrained` to such a checkpoint, or to None.')
    # Both put a PatchMerging between consecutive stages: the official one
    # after stage i as `layers.{i}.downsample`, timm's before stage i + 1.
    # With one stage there is none, and the two formats coincide.
    if any(k.startswith('layers.0.downsample.') for k in keys):
        return 'official'
    if any(re.match(r'layers\.\d+\.downsample\.', k) for k in keys):
        return 'timm'
    return 'official'


def convert_swin2d(state_dict: StateDict, key_format: str) -> StateDict:
    """Rename a 2D Swin state dict of ``key_format`` to MMAction2's names.

    The final norm becomes ``norm`` (the backbone maps it to ``norm{last}``);
    heads, necks and rebuilt buffers are dropped.
    """
    if key_format not in SWIN_FORMATS:
        raise ValueError(f'Unknown Swin checkpoint key format {key_format!r}'
                         f'; expected one of {SWIN_FORMATS}.')
    converted = {}
    for key, value in state_dict.items():
        if key_format == 'mmpretrain':
            if not key.startswith('backbone.') and \
                    any(k.startswith('backbone.') for k in state_dict):
                continue  # a classifier's head / neck / data preprocessor
            key = key[len('backbone.'):] if key.startswith('backbone.') \
                else key
            key, value = _from_mmpretrain(key, value)
        elif key_format == 'timm':
            # downsample before stage i (timm) == after stage i - 1 (official)
            key = re.sub(r'^layers\.(\d+)\.downsample\.',
                         lambda m: f'layers.{int(m.group(1)) - 1}.downsample.',
                         key)
        if key.startswith('head.') or any(n in key for n in _REBUILT):
            continue
        converted[key] = value
    return converted


def _from_mmpretrain(key: str, value: torch.Tensor):
    """One MMPretrain SwinTransformer key (without ``backbone.``), renamed."""
    key = key.replace('patch_embed.projection.', 'patch_embed.proj.')
    key = re.sub(r'^stages\.', 'layers.', key)
    key = key.replace('.attn.w_msa.', '.attn.')
    key = key.replace('.ffn.layers.0.0.', '.mlp.fc1.')
    key = key.replace('.ffn.layers.1.', '.mlp.fc2.')
    if re.match(r'layers\.\d+\.downsample\.(norm|reduction)\.', key):
        value = unfold_to_concat_order(value)
    # `norm{i}` (output norm of stage i) means the same in MMAction2; `norm`
    # alone, MMPretrain's version-1 name of the last one, is kept as well.
    return key, value


def unfold_to_concat_order(weight: torch.Tensor) -> torch.Tensor:
    """Permute the 4C input channels of a patch-merging norm or reduction from
    ``nn.Unfold`` order to the official concatenation order.

    ``nn.Unfold(2, stride=2)`` yields channel ``c * 4 + 2 * row + col``; the
    official merging concatenates ``x[0::2, 0::2], x[1::2, 0::2],
    x[0::2, 1::2], x[1::2, 1::2]``: channel ``(row + 2 * col) * C + c``.
    """
    *lead, channels4 = weight.shape
    c = channels4 // 4
    # (..., C, 4 positions in row-major order) -> (..., positions, C), then
    # row-major (0,0), (0,1), (1,0), (1,1) -> column-major (0,0), (1,0), ...
    weight = weight.reshape(*lead, c, 4).transpose(-1, -2)
    return weight[..., [0, 2, 1, 3], :].reshape(*lead, channels4)


class Swin2dInit:
    """Mixin of ``SwinDTF`` (before ``SwinTransformer3D`` in the bases):
    initialise from a 2D ImageNet Swin in any key format above.

    The (4, 4) patch kernel is spread over the ``s`` tubelet frames (divided
    by ``s``, so a clip of identical frames gives the 2D features);
    everything else acts per frame as it is. Every parameter a 2D Swin has
    must be there with this architecture's shape.
    """

    def load_swin2d(self, logger: MMLogger) -> None:
        """Load ``self.pretrained``, a 2D Swin of this architecture; raise
        naming the file, the keys and the config key when it does not
        match."""
        model = type(self).__name__
        state_dict, key_format = load_swin2d_checkpoint(self.pretrained)
        own = self.state_dict()
        skipped = []

        patch = state_dict.get('patch_embed.proj.weight')
        if patch is None or patch.dim() != 4:
            shape = None if patch is None else tuple(patch.shape)
            raise ValueError(
                f'{self.pretrained} is not a 2D Swin checkpoint: its '
                f'`patch_embed.proj.weight` has shape {shape}, expected '
                f'(C, 3, kh, kw). For a {model} checkpoint set '
                '`model.backbone.pretrained2d=False`.')
        state_dict['patch_embed.proj.weight'] = inflate_2d_kernel(
            patch, self.temporal_stride)

        # `norm`: the 2D network's final norm, our last stage's output norm.
        last_norm = f'norm{self.num_layers - 1}'
        for name in ('weight', 'bias'):
            value = state_dict.pop(f'norm.{name}', None)
            if value is None:
                continue
            if f'{last_norm}.{name}' in own:
                state_dict.setdefault(f'{last_norm}.{name}', value)
            else:  # the last stage is not an output
                skipped.append(f'norm.{name}')

        for key in [k for k in state_dict
                    if k.endswith('relative_position_bias_table')]:
            if key in own:
                state_dict[key] = self._resize_bias_table(
                    key, state_dict[key], own[key], logger)

        unexpected = []
        for key, value in state_dict.items():
            if key not in own:
                # Norms this configuration does not have: the patch norm
                # (patch_norm=False) or output norms of other stages.
                optional = re.match(r'(patch_embed\.)?norm\d*\.', key)
                (skipped if optional else unexpected).append(key)
            elif value.shape != own[key].shape:
                raise ValueError(
                    f'{self.pretrained}: `{key}` has shape '
                    f'{tuple(value.shape)}, {model}-{self.arch_name} expects '
                    f'{tuple(own[key].shape)}; is it a Swin-{self.arch_name}'
                    ' checkpoint? Set `model.backbone.arch` to match it.')
        missing = [k for k in own
                   if k not in state_dict and not self._not_in_2d_swin(k)]
        if unexpected or missing:
            raise ValueError(
                f'{self.pretrained} ({key_format} format) does not match '
                f'{model}-{self.arch_name}: missing {some_keys(missing)}, '
                f'unexpected {some_keys(unexpected)}. Set '
                '`model.backbone.arch` to the checkpoint\'s, or '
                '`model.backbone.pretrained` to another checkpoint.')
        for key in skipped:
            state_dict.pop(key, None)
        self.load_state_dict(state_dict, strict=False)
        log_loaded(model, len(state_dict), self.pretrained, key_format,
                   skipped, logger)

    def _not_in_2d_swin(self, key: str) -> bool:
        """Parameters a 2D Swin checkpoint does not have."""
        return ('.dtf.' in key or key.endswith('relative_position_index')
                or (key.startswith('norm')
                    and not key.startswith(f'norm{self.num_layers - 1}.')))

    def _resize_bias_table(self, key: str, table: torch.Tensor,
                           own: torch.Tensor,
                           logger: MMLogger) -> torch.Tensor:
        """A table of another window size, resized bicubically (as
        MMAction2's ``inflate_weights``); one of the same size as it is."""
        if table.dim() != 2 or table.shape[1] != own.shape[1] or \
                table.shape[0] == own.shape[0]:
            return table  # same size, or a mismatch the shape check reports
        old = int(round(table.shape[0]**0.5))
        new = 2 * self.window_size[1] - 1
        if old * old != table.shape[0]:
            return table
        logger.info(f'{type(self).__name__}: resizing `{key}` from a '
                    f'{old}x{old} to a {new}x{new} relative position table.')
        grid = table.T.reshape(1, -1, old, old).float()
        grid = F.interpolate(grid, size=(new, new), mode='bicubic',
                             align_corners=False)
        return grid.reshape(-1, new * new).T.to(table.dtype)
