"""2D Swin Transformer ImageNet checkpoints for :class:`SwinDTF`.

Three key layouts are read and renamed to the names of MMAction2's
``SwinTransformer3D`` (the parameters keep their 2D shapes; inflation is the
backbone's job):

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

The layout is told from the keys; anything else is refused with the keys
that were expected.
"""
import re
from typing import Dict, Tuple

import torch

from .pretrained import read_pretrained, unwrap_state_dict  # noqa: F401

LAYOUTS = ('official', 'timm', 'mmpretrain')
StateDict = Dict[str, torch.Tensor]

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
    """Read a 2D Swin checkpoint; return it in MMAction2 names and its layout.

    Classifier heads and rebuilt buffers are dropped. A path that does not
    exist raises ``FileNotFoundError``, a file that is no checkpoint
    ``ValueError``; both name the path and ``model.backbone.pretrained``.
    """
    checkpoint = read_pretrained(
        filename, 'a 2D Swin Transformer ImageNet checkpoint (a local path '
        'or URL, e.g. swin_tiny_patch4_window7_224.pth) in the official, '
        'timm or MMPretrain layout')
    state_dict = unwrap_state_dict(checkpoint)
    layout = detect_layout(state_dict, filename)
    return convert_swin2d(state_dict, layout), layout


def detect_layout(state_dict: StateDict, filename: str) -> str:
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
            f'layout: expected {_EXPECTED}; found keys {sample}. Set '
            '`model.backbone.pretrained` to such a checkpoint, or to None.')
    # Both put a PatchMerging between consecutive stages: the official one
    # after stage i as `layers.{i}.downsample`, timm's before stage i + 1.
    # With one stage there is none, and the two layouts coincide.
    if any(k.startswith('layers.0.downsample.') for k in keys):
        return 'official'
    if any(re.match(r'layers\.\d+\.downsample\.', k) for k in keys):
        return 'timm'
    return 'official'


def convert_swin2d(state_dict: StateDict, layout: str) -> StateDict:
    """Rename a 2D Swin state dict of ``layout`` to MMAction2's names.

    The final norm becomes ``norm`` (the backbone maps it to ``norm{last}``);
    heads, necks and rebuilt buffers are dropped.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'Unknown Swin checkpoint layout {layout!r}; '
                         f'expected one of {LAYOUTS}.')
    converted = {}
    for key, value in state_dict.items():
        if layout == 'mmpretrain':
            if not key.startswith('backbone.') and \
                    any(k.startswith('backbone.') for k in state_dict):
                continue  # a classifier's head / neck / data preprocessor
            key = key[len('backbone.'):] if key.startswith('backbone.') \
                else key
            key, value = _from_mmpretrain(key, value)
        elif layout == 'timm':
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
