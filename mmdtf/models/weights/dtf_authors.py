"""Weights trained with the authors' DTF code (FuchenUSTC/DTF) in mmdtf.

Their DTF-Net (``model_dtf/c2d_dtf_resnet.py``, Bottleneck ResNets) and
DTF-Transformer (``model_dtf/c2d_dtf_swin.py``) save state dicts in their own
names; :func:`convert_dtf_authors` renames one into the state dict of an
MMAction2 ``Recognizer3D`` with :class:`ResNetDTF` or :class:`SwinDTF` and
``dtf_cfg.variant='authors'`` (the block their code computes:
docs/models/dtf_blocks.md). Their DTF block's names map as::

    filter_g.weight                 -> filter.estimator.weight  (no bias)
    linear1.complex_weight[..., 0]  -> filter.mixing.weight_real
    linear1.complex_weight[..., 1]  -> filter.mixing.weight_imag
    norm1.norm.running_mean / _var  -> filter.mixing.norm.running_mean / _var
    alpha1                          -> gamma
    bias                            -> beta
    weights_cor                     -> (dropped: frozen at 1 / C, checked)

The rest of the network keeps its structure. ResNet: their 3D convolutions
carry a time axis of 1 (``transfer_weights`` inflates a 2D ResNet that way;
the stem keeps its ``(s, 7, 7)`` kernel) and become 2D ones; ``bnN``,
``downsample.0/1`` and ``fc`` become MMAction2's ``convN.bn``,
``downsample.conv/bn`` and ``cls_head.fc_cls``. Swin: the names are already
MMAction2's ``SwinTransformer3D``'s, except ``dtf_block`` (-> ``dtf``), the
final ``norm`` (-> ``norm{last stage}``) and ``fc``. Dropped: what their
forward never uses, i.e. every Swin block's ``conv`` (a 1x3 convolution,
which their ``transfer_weights`` fills with zeros) and the DTF block of every
block with a shifted window (each of their Swin blocks builds one, but runs
it only where the window is regular; the shifted blocks are those with an
``attn_mask`` buffer); and the ``attn_mask`` buffers, rebuilt by MMAction2.
"""
import re
from typing import Dict, Tuple

import torch

from .checkpoint_file import StateDict, some_keys, unwrap_state_dict

#: the authors' DTFBlock parameters and buffers, ours for each (None: dropped)
BLOCK_KEYS = {
    'filter_g.weight': 'filter.estimator.weight',
    'linear1.complex_weight': None,  # split into weight_real / weight_imag
    'norm1.norm.running_mean': 'filter.mixing.norm.running_mean',
    'norm1.norm.running_var': 'filter.mixing.norm.running_var',
    'norm1.norm.num_batches_tracked':
    'filter.mixing.norm.num_batches_tracked',
    'alpha1': 'gamma',
    'bias': 'beta',
    'weights_cor': None,  # a frozen 1 / C, checked
}
_REQUIRED_BLOCK_KEYS = ('filter_g.weight', 'linear1.complex_weight',
                        'norm1.norm.running_mean', 'norm1.norm.running_var',
                        'alpha1', 'bias')
#: ResNet depths by blocks per stage (their Bottleneck networks)
_RESNET_DEPTHS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}


class AuthorsCheckpointError(ValueError):
    """A state dict that is not one of the authors' DTF networks."""


def convert_dtf_block(state_dict: StateDict, where: str = '') -> StateDict:
    """One authors' ``DTFBlock`` state dict (keys without a prefix) in the
    names of mmdtf's ``DTFBlock(variant='authors')``.

    Args:
        state_dict: ``filter_g.weight``, ``linear1.complex_weight``,
            ``norm1.norm.*``, ``alpha1``, ``bias`` and, optionally,
            ``weights_cor``.
        where: the block's prefix in the checkpoint, for messages.
    """
    name = f'`{where}`' if where else 'the DTF block'
    unknown = sorted(set(state_dict) - set(BLOCK_KEYS))
    missing = [k for k in _REQUIRED_BLOCK_KEYS if k not in state_dict]
    if unknown or missing:
        raise AuthorsCheckpointError(
            f'{name} is not the authors\' DTFBlock: unexpected keys '
            f'{unknown}, missing {missing} (expected {list(BLOCK_KEYS)}). '
            'Their FFTLinear with a bias or other filters are not the block '
            'of their DTF-Net and DTF-Transformer.')
    mixing = state_dict['linear1.complex_weight']
    channels = mixing.shape[0]
    if mixing.shape != (channels, channels, 2):
        raise AuthorsCheckpointError(
            f'{name}: linear1.complex_weight has shape {tuple(mixing.shape)}, '
            'expected (C, C, 2).')
    cor = state_dict.get('weights_cor')
    if cor is not None:
        # Their correlation weights are created at 1 / C and frozen
        # (requires_grad=False); FA computes exactly that channel mean.
        expected = torch.full_like(cor, 1. / channels, dtype=torch.float64)
        if cor.shape[0] != channels or not torch.allclose(
                cor.double(), expected, rtol=1e-6, atol=0):
            raise AuthorsCheckpointError(
                f'{name}: weights_cor is not the constant 1/C = '
                f'{1. / channels:.6g} their code creates and freezes '
                f'(shape {tuple(cor.shape)}, values '
                f'{float(cor.min()):.6g} .. {float(cor.max()):.6g}); mmdtf\'s '
                'correlation is the channel mean and cannot load other '
                'weights.')
    out = {}
    for key, value in state_dict.items():
        target = BLOCK_KEYS[key]
        if target is not None:
            out[target] = value
    out['filter.mixing.weight_real'] = mixing[..., 0].contiguous()
    out['filter.mixing.weight_imag'] = mixing[..., 1].contiguous()
    return out


def block_num_frames(state_dict: StateDict) -> int:
    """``T`` of a converted or authors' block, from its estimator: (C + k*k)
    * T inputs, with C from the mixing and k = 3 unless ``weights_cor``
    says otherwise."""
    if 'weights_cor' in state_dict:
        return state_dict['weights_cor'].shape[1]
    channels = state_dict['linear1.complex_weight'].shape[0]
    return state_dict['filter_g.weight'].shape[1] // (channels + 9)


def _split_blocks(state_dict: StateDict,
                  pattern: str) -> Tuple[Dict[str, StateDict], StateDict]:
    """Group the keys under each DTF block prefix matched by ``pattern``
    (a regex with one group, the prefix); return them and the other keys."""
    blocks: Dict[str, StateDict] = {}
    rest = {}
    for key, value in state_dict.items():
        match = re.match(pattern, key)
        if match:
            prefix = match.group(1)
            blocks.setdefault(prefix, {})[key[len(prefix) + 1:]] = value
        else:
            rest[key] = value
    return blocks, rest


def convert_dtf_authors(checkpoint: Dict) -> Tuple[StateDict, Dict]:
    """An authors' DTF-Net or DTF-Transformer checkpoint in mmdtf's names.

    Args:
        checkpoint: their state dict, or a checkpoint dict holding it under
            ``state_dict`` / ``model`` (``module.`` prefixes are removed).

    Returns:
        The state dict of a ``Recognizer3D`` (``backbone.*``, and
        ``cls_head.fc_cls.*`` when the checkpoint has their ``fc``), and the
        config keys the model must be built with (``hints``: type, depth or
        arch, clip length, ``dtf_cfg``).
    """
    state_dict = unwrap_state_dict(checkpoint)
    if any(k.startswith('layer1.') for k in state_dict):
        return _convert_resnet(state_dict)
    if any(k.startswith('layers.') for k in state_dict):
        return _convert_swin(state_dict)
    sample = ', '.join(f'`{k}`' for k in list(state_dict)[:6]) or 'none'
    raise AuthorsCheckpointError(
        'not a checkpoint of the authors\' DTF-Net (keys `layer1.0.dtf_blk.'
        'filter_g.weight`, ...) or DTF-Transformer (`layers.0.blocks.0.'
        f'dtf_block.filter_g.weight`, ...): found keys {sample}.')


def _convert_blocks(blocks: Dict[str, StateDict], name: str,
                    ours: str) -> Tuple[StateDict, int]:
    """Every DTF block, renamed from prefix ``...{name}`` to ``backbone.
    ...{ours}``; and their ``T``."""
    out = {}
    num_frames = set()
    for prefix, block in blocks.items():
        num_frames.add(block_num_frames(block))
        target = prefix.replace(name, ours)
        for key, value in convert_dtf_block(block, prefix).items():
            out[f'backbone.{target}.{key}'] = value
    if len(num_frames) != 1:
        raise AuthorsCheckpointError(
            f'the DTF blocks were built for different clip lengths '
            f'{sorted(num_frames)}; their networks use one.')
    return out, num_frames.pop()


def _dtf_cfg_hint(blocks: Dict[str, StateDict]) -> Dict:
    first = next(iter(blocks.values()))
    kernel = (first['weights_cor'].shape[-1] if 'weights_cor' in first
              else 3)
    return dict(variant='authors', kernel_size=int(kernel), group_factor=16)


def _convert_resnet(state_dict: StateDict) -> Tuple[StateDict, Dict]:
    if any(re.match(r'layer\d+\.\d+\.conv\d_blk\.', k) for k in state_dict):
        raise AuthorsCheckpointError(
            'the checkpoint has two DTF blocks per residual block '
            '(`conv1_blk`, `conv2_blk`: the authors\' BasicBlock); mmdtf\'s '
            'ResNetDTF has one per block and cannot load it.')
    if 'conv2.weight' in state_dict or 'conv3.weight' in state_dict:
        raise AuthorsCheckpointError(
            'the checkpoint has the authors\' deep stem (`conv2`, `conv3` '
            'after `conv1`), which ResNetDTF does not build.')
    blocks, rest = _split_blocks(state_dict,
                                 r'(layer\d+\.\d+\.dtf_blk)\.')
    if not blocks:
        raise AuthorsCheckpointError(
            'the checkpoint has a ResNet but no DTF blocks (`layerX.Y.'
            'dtf_blk.*`): for 2D ImageNet weights set '
            '`model.backbone.pretrained` instead.')
    out, frames = _convert_blocks(blocks, '.dtf_blk', '.conv2.conv.dtf')
    unexpected = []
    for key, value in rest.items():
        new = _resnet_key(key)
        if new is None:
            unexpected.append(key)
            continue
        if new.startswith('backbone.layer') and value.dim() == 5:
            # their (1, kh, kw) kernels of the body: 2D ones in ResNetDTF
            if value.shape[2] != 1:
                raise AuthorsCheckpointError(
                    f'`{key}` has a temporal kernel of {value.shape[2]}; '
                    'their DTF-Net body is 2D (time size 1).')
            value = value[:, :, 0]
        out[new] = value
    if unexpected:
        raise AuthorsCheckpointError(
            f'keys of no DTF-Net part: {some_keys(unexpected)}.')
    stages = []
    for stage in range(1, 5):
        ids = {int(m.group(1)) for k in state_dict
               for m in [re.match(rf'layer{stage}\.(\d+)\.', k)] if m}
        stages.append(len(ids))
    depth = _RESNET_DEPTHS.get(tuple(stages))
    if depth is None:
        raise AuthorsCheckpointError(
            f'blocks per stage {tuple(stages)} are no ResNet depth ResNetDTF '
            f'builds ({_RESNET_DEPTHS}).')
    stride = state_dict['conv1.weight'].shape[2]
    hints = dict(type='ResNetDTF', depth=depth, temporal_stride=int(stride),
                 clip_len=int(frames * stride), dtf_cfg=_dtf_cfg_hint(blocks))
    return out, hints


def _resnet_key(key: str):
    """Our name of one of their non-DTF ResNet keys, None if unknown."""
    match = re.fullmatch(r'conv1\.weight', key)
    if match:
        return 'backbone.conv1.conv.weight'
    match = re.fullmatch(r'bn1\.(\w+)', key)
    if match:
        return f'backbone.conv1.bn.{match.group(1)}'
    match = re.fullmatch(r'(layer\d+\.\d+)\.conv(\d)\.weight', key)
    if match:
        block, n = match.groups()
        inner = '.conv.conv' if n == '2' else '.conv'  # conv2 wraps DTF
        return f'backbone.{block}.conv{n}{inner}.weight'
    match = re.fullmatch(r'(layer\d+\.\d+)\.bn(\d)\.(\w+)', key)
    if match:
        block, n, name = match.groups()
        return f'backbone.{block}.conv{n}.bn.{name}'
    match = re.fullmatch(r'(layer\d+\.\d+)\.downsample\.([01])\.(\w+)', key)
    if match:
        block, index, name = match.groups()
        part = 'conv' if index == '0' else 'bn'
        return f'backbone.{block}.downsample.{part}.{name}'
    match = re.fullmatch(r'fc\.(weight|bias)', key)
    if match:
        return f'cls_head.fc_cls.{match.group(1)}'
    return None


def _convert_swin(state_dict: StateDict) -> Tuple[StateDict, Dict]:
    if 'absolute_pos_embed' in state_dict:
        raise AuthorsCheckpointError(
            'the checkpoint has an absolute position embedding (ape=True), '
            'which SwinDTF does not build.')
    blocks, rest = _split_blocks(
        state_dict, r'(layers\.\d+\.blocks\.\d+\.dtf_block)\.')
    shifted = {k[:-len('.attn_mask')] for k in state_dict
               if k.endswith('.attn_mask')}
    if blocks and not shifted:
        raise AuthorsCheckpointError(
            'the checkpoint has no `attn_mask` buffers, which tell the '
            'blocks with shifted windows (whose DTF blocks their forward '
            'never runs) from the others; convert a state dict saved with '
            'its buffers.')
    blocks = {prefix: block for prefix, block in blocks.items()
              if prefix[:-len('.dtf_block')] not in shifted}
    if not blocks:
        raise AuthorsCheckpointError(
            'the checkpoint has a Swin Transformer but no DTF blocks '
            '(`layers.I.blocks.J.dtf_block.*`): for 2D ImageNet weights set '
            '`model.backbone.pretrained` instead.')
    num_stages = 1 + max(int(re.match(r'layers\.(\d+)\.', k).group(1))
                         for k in state_dict if k.startswith('layers.'))
    out, frames = _convert_blocks(blocks, '.dtf_block', '.dtf')
    unexpected = []
    for key, value in rest.items():
        if re.fullmatch(r'layers\.\d+\.blocks\.\d+\.(conv\.weight|attn_mask)',
                        key):
            continue  # their unused 1x3 conv; a rebuilt buffer
        if key.startswith(('layers.', 'patch_embed.')):
            out[f'backbone.{key}'] = value
        elif re.fullmatch(r'norm\.(weight|bias)', key):
            out[f'backbone.norm{num_stages - 1}.{key[5:]}'] = value
        elif re.fullmatch(r'fc\.(weight|bias)', key):
            out[f'cls_head.fc_cls.{key[3:]}'] = value
        else:
            unexpected.append(key)
    if unexpected:
        raise AuthorsCheckpointError(
            f'keys of no DTF-Transformer part: {some_keys(unexpected)}.')
    depths, heads = [], []
    for stage in range(num_stages):
        ids = {int(m.group(1)) for k in state_dict for m in
               [re.match(rf'layers\.{stage}\.blocks\.(\d+)\.', k)] if m}
        depths.append(len(ids))
        table = state_dict[
            f'layers.{stage}.blocks.0.attn.relative_position_bias_table']
        heads.append(int(table.shape[1]))
    embed = state_dict['patch_embed.proj.weight']
    stride = embed.shape[2]
    table0 = state_dict['layers.0.blocks.0.attn.relative_position_bias_table']
    window = (int(round(table0.shape[0]**0.5)) + 1) // 2
    hints = dict(
        type='SwinDTF',
        arch=dict(embed_dims=int(embed.shape[0]), depths=depths,
                  num_heads=heads),
        patch_size=int(embed.shape[-1]), window_size=window,
        temporal_stride=int(stride), clip_len=int(frames * stride),
        # their tubelet embedding has no LayerNorm
        patch_norm='patch_embed.norm.weight' in state_dict,
        dtf_cfg=_dtf_cfg_hint(blocks))
    return out, hints
