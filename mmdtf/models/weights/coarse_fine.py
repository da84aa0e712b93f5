"""Checkpoints of the public Coarse-Fine Networks code
(kkahatapitiya/Coarse-Fine-Networks) in mmdtf's names.

The public checkpoints (``coarse_fineFEAT_charades_*.pt`` from
``train_coarse_fineFEAT.py``, ``fine_charades_*.pt`` from ``train_fine.py``,
and the Kinetics X3D they start from) are ``{'model_state_dict': ...}`` of
their ``x3d_coarse.ResNet`` / ``x3d_fine.ResNet``. Their layout, against
ours (an MMEngine model: ``CoarseFineRecognizer`` with ``X3DCoarseFine`` and
``PerFrameMultiLabelHead``):

======================================  =====================================
public                                  mmdtf
======================================  =====================================
``conv1_s``, ``conv1_t`` + ``bn1``      ``backbone.conv1_s.conv``,
                                        ``backbone.conv1_t.conv`` / ``.bn``
``layerI.J.convK`` + ``bnK``            ``backbone.layerI.J.convK.conv`` /
                                        ``.bn``
``layerI.J.fc1``, ``fc2`` (SE)          ``backbone.layerI.J.se_module.fcN``
``layerI.J.downsample.0`` / ``.1``      ``backbone.layerI.J.downsample.conv``
                                        / ``.bn``
``conv5`` + ``bn5``                     ``backbone.conv5.conv`` / ``.bn``
``pool_1.conv1`` + ``bn1``, ``conv2``   ``backbone.grid_pool.confidence_net.0``
+ ``bn2``, ``conv3`` (Grid Pool)        / ``.1`` (conv, bn), ``.2``
``rw2`` .. ``rw5`` (``at1``, ``at2``,   ``backbone.fusion.reweight.0`` .. ``3``
``fc1`` .. ``fc4``)                     (``attention.0/2``, ``shift.0/2``,
                                        ``scale.0/2``)
``mix2`` .. ``mix5`` (``conv_at``,      ``backbone.fusion.mix_shift.i``,
``conv_at2``)                           ``mix_scale.i``
``rw6`` (logit fusion)                  ``cls_head.logit_fusion``
``fc1`` (Conv3d), ``fc2`` (Linear)      ``cls_head.fc1``, ``cls_head.fc2``
                                        (Conv1d)
======================================  =====================================

Two things are computed, not renamed:

* **Batch norms** are SlowFast's ``SubBatchNorm3d``: one affine ``weight`` /
  ``bias`` and two sets of running statistics, ``bn`` (used in evaluation)
  and ``split_bn`` (updated in training, ``num_splits`` sets side by side).
  The public code copies ``split_bn`` into ``bn`` (``aggregate_stats``: the
  mean of the split means, the mean of the split variances plus the
  variance of the split means) before every evaluation, and saves
  checkpoints in the middle of training, so ``bn`` may be stale: the
  statistics are aggregated from ``split_bn`` here, as that evaluation does
  (``bn``'s are used only where ``split_bn`` is absent).
* **Grid Pool's convolutions have biases** before their batch norms, ours
  (``ConvModule``) none: a constant before a batch norm only shifts its
  running mean, so the bias is folded into it (``running_mean - bias``),
  which is the same function in evaluation and, with batch statistics, in
  training.

1x1 ``Conv1d`` / ``Conv3d`` / ``Linear`` weights are reshaped to our layers'
kinds. Any key the table does not know is refused, naming it.
"""
import re
from collections import Counter
from typing import Dict, List, Mapping, Optional, Tuple

import torch

StateDict = Dict[str, torch.Tensor]

# (public prefix pattern, mmdtf prefix template) for batch norms
_NORMS: List[Tuple[str, str]] = [
    (r'bn1', 'backbone.conv1_t.bn'),
    (r'(layer\d+\.\d+)\.bn(\d)', r'backbone.\1.conv\2.bn'),
    (r'(layer\d+\.\d+)\.downsample\.1', r'backbone.\1.downsample.bn'),
    (r'bn5', 'backbone.conv5.bn'),
    (r'pool_1\.bn(\d)', 'backbone.grid_pool.confidence_net.{prev}.bn'),
]
# (public key pattern, mmdtf key template) for everything else
_PARAMS: List[Tuple[str, str]] = [
    (r'conv1_s\.weight', 'backbone.conv1_s.conv.weight'),
    (r'conv1_t\.weight', 'backbone.conv1_t.conv.weight'),
    (r'(layer\d+\.\d+)\.conv(\d)\.weight', r'backbone.\1.conv\2.conv.weight'),
    (r'(layer\d+\.\d+)\.fc(\d)\.(weight|bias)',
     r'backbone.\1.se_module.fc\2.\3'),
    (r'(layer\d+\.\d+)\.downsample\.0\.weight',
     r'backbone.\1.downsample.conv.weight'),
    (r'conv5\.weight', 'backbone.conv5.conv.weight'),
    (r'pool_1\.conv3\.(weight|bias)',
     r'backbone.grid_pool.confidence_net.2.\1'),
    (r'mix([2-5])\.conv_at\.(weight|bias)',
     'backbone.fusion.mix_shift.{mix}.\\2'),
    (r'mix([2-5])\.conv_at2\.(weight|bias)',
     'backbone.fusion.mix_scale.{mix}.\\2'),
    (r'fc1\.weight', 'cls_head.fc1.weight'),
    (r'fc2\.(weight|bias)', r'cls_head.fc2.\1'),
]
# RewightLayer members -> FineFeatureReweighting members
_REWEIGHT = {'at1': 'attention.0', 'at2': 'attention.2', 'fc1': 'shift.0',
             'fc2': 'shift.2', 'fc3': 'scale.0', 'fc4': 'scale.2'}
_BN_STATS = ('running_mean', 'running_var', 'num_batches_tracked')


def read_public_checkpoint(path: str) -> StateDict:
    """The model state dict of a public Coarse-Fine checkpoint file (its
    ``model_state_dict``; a bare state dict too), without ``module.``."""
    # Their checkpoints also hold the optimizer and a MultiStepLR, whose
    # milestones are a Counter: allowed, and nothing else beyond tensors.
    with torch.serialization.safe_globals([Counter]):
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{path}: expected a dict (a public Coarse-Fine '
                         f'checkpoint), got {type(checkpoint).__name__}')
    state = checkpoint.get('model_state_dict', checkpoint)
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state.items()}


def aggregate_split_stats(mean: torch.Tensor, var: torch.Tensor,
                          num_features: int) -> Tuple[torch.Tensor,
                                                      torch.Tensor]:
    """SubBatchNorm3d's ``aggregate_stats``: ``num_splits`` sets of running
    statistics laid out split-major -> one set."""
    splits = mean.numel() // num_features
    means = mean.view(splits, num_features)
    variances = var.view(splits, num_features)
    agg_mean = means.mean(0)
    return agg_mean, variances.mean(0) + ((means - agg_mean)**2).mean(0)


def _convert_norm(state: Mapping, public: str, ours: str,
                  bias: Optional[torch.Tensor]) -> StateDict:
    """One SubBatchNorm3d (``public.*``) as an nn.BatchNorm3d (``ours.*``);
    ``bias``: a preceding convolution's bias, folded into the mean."""
    weight = state[f'{public}.weight']
    src = 'split_bn' if f'{public}.split_bn.running_mean' in state else 'bn'
    mean = state[f'{public}.{src}.running_mean']
    var = state[f'{public}.{src}.running_var']
    if src == 'split_bn':
        mean, var = aggregate_split_stats(mean, var, weight.numel())
    if bias is not None:
        mean = mean - bias
    out = {f'{ours}.weight': weight, f'{ours}.bias': state[f'{public}.bias'],
           f'{ours}.running_mean': mean, f'{ours}.running_var': var}
    tracked = f'{public}.{src}.num_batches_tracked'
    if tracked in state:
        out[f'{ours}.num_batches_tracked'] = state[tracked]
    return out


def _norm_keys(public: str) -> List[str]:
    keys = [f'{public}.weight', f'{public}.bias']
    keys += [f'{public}.{s}.{k}' for s in ('bn', 'split_bn')
             for k in _BN_STATS]
    return keys


def convert_coarse_fine(state: Mapping[str, torch.Tensor]) -> StateDict:
    """A public Coarse-Fine / fine-stream / X3D state dict (their key names)
    -> the state dict of mmdtf's model (``backbone.*``, ``cls_head.*``).

    Raises:
        KeyError: a key no rule knows (named), or a batch norm without its
            affine parameters.
    """
    state = dict(state)
    out: StateDict = {}
    used = set()

    # batch norms (SubBatchNorm3d): every prefix with a .bn.running_mean
    prefixes = sorted({k[:-len('.bn.running_mean')] for k in state
                       if k.endswith('.bn.running_mean')})
    for public in prefixes:
        ours = _rename(public, _NORMS)
        if ours is None:
            raise KeyError(f'public batch norm {public!r}: no rule for it')
        bias = None
        match = re.fullmatch(r'pool_1\.bn(\d)', public)
        if match:  # Grid Pool: conv{n} (with bias) -> this norm
            conv = f'pool_1.conv{match.group(1)}'
            bias = state.get(f'{conv}.bias')
            out[ours[:-len('.bn')] + '.conv.weight'] = state[f'{conv}.weight']
            used.update({f'{conv}.weight', f'{conv}.bias'})
        for key in ('weight', 'bias'):
            if f'{public}.{key}' not in state:
                raise KeyError(f'public batch norm {public!r} lacks its '
                               f'affine {key!r}')
        out.update(_convert_norm(state, public, ours, bias))
        used.update(k for k in _norm_keys(public) if k in state)

    for key, value in state.items():
        if key in used:
            continue
        match = re.fullmatch(r'rw([2-6])\.(at1|at2|fc1|fc2|fc3|fc4)\.'
                             r'(weight|bias)', key)
        if match:
            level, member, kind = match.groups()
            target = ('cls_head.logit_fusion' if level == '6' else
                      f'backbone.fusion.reweight.{int(level) - 2}')
            out[f'{target}.{_REWEIGHT[member]}.{kind}'] = value
            continue
        ours = _rename(key, _PARAMS)
        if ours is None:
            raise KeyError(f'public key {key!r} has no counterpart in '
                           'mmdtf (mmdtf/models/weights/coarse_fine.py lists '
                           'the layout it reads)')
        out[ours] = value
    return {k: _reshape(k, v) for k, v in out.items()}


def _reshape(key: str, value: torch.Tensor) -> torch.Tensor:
    """1x1 convolutions change kind: the public fusion layers are Conv1d,
    ours Conv3d; the public head is Conv3d + Linear, ours Conv1d."""
    if not key.endswith('.weight'):
        return value
    if key.startswith(('backbone.fusion.', 'cls_head.logit_fusion.')):
        return value.reshape(*value.shape[:2], 1, 1, 1)
    if key in ('cls_head.fc1.weight', 'cls_head.fc2.weight'):
        return value.reshape(*value.shape[:2], 1)
    return value


def _rename(key: str, rules: List[Tuple[str, str]]) -> Optional[str]:
    for pattern, template in rules:
        match = re.fullmatch(pattern, key)
        if match is None:
            continue
        if '{prev}' in template:  # pool_1.bnN follows convN: net index N-1
            return template.format(prev=int(match.group(1)) - 1)
        if '{mix}' in template:  # mix2..mix5 -> stages 0..3
            template = template.format(mix=int(match.group(1)) - 2)
        return match.expand(template)
    return None
