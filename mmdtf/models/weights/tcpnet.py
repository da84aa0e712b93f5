"""TCPNet's released checkpoints in mmdtf's TSN / TSM + TCP models.

TCPNet (Gao et al., NeurIPS 2021; public code ``ZilinGao/Temporal-attentive-
Covariance-Pooling-Networks-for-Video-Recognition``) releases two kinds of
files that TCP users start from, both ``{'state_dict': ...}`` saved from
``torch.nn.DataParallel`` (every key starts with ``module.``):

* video models (Kinetics-400 TSN R50 8f / 16f): its ``TSN`` wrapper, the
  ResNet under ``base_model.`` in torchvision's names, the TCP module under
  ``base_model.TCP.`` (``layer_reduce1``, ``layer_reduce_bn1``,
  ``layer_reduce2``, ``layer_reduce_bn2``, ``TCP_att.TSA.conv_phi_1`` /
  ``conv_phi_2`` / ``conv_phi0`` / ``norm``, ``TCP_att.TCA.g1`` / ``g2``,
  ``TCP_att.conv_1d``) and the classifier as ``new_fc``. Older files keep
  the TCP module under ``base_model.layer4.iSQRT.`` with the attention as
  ``att_module`` (``conv_1`` / ``conv_2`` for TCA, ``sp_att.conv_theta`` /
  ``conv_phi`` / ``conv_g`` for TSA), as TCPNet's ``keys_mapping.py`` reads;
* the ImageNet GCP ResNet-50 TCPNet fine-tunes from: the ResNet and the two
  reduction layers (``layer_reduce1`` ... ``layer_reduce_bn2``) at the top
  level, and a 1000-class ``fc`` on the covariance (not used).

:func:`convert_tcpnet` renames either into MMAction2's ``Recognizer2D`` with
a ``ResNet`` (or ``ResNetTSM``) backbone and :class:`~mmdtf.models.heads.
TCPHead` (``backbone.``, ``cls_head.``); :func:`fit_tcpnet_to_model`
checks the result against a model and leaves out what a fine-tuning does
not take over (TCPNet's own rules: a classifier for other classes; the
second reduction when ``tcp_channels`` differs from the GCP model's 128).
``TCPNetCheckpointHook`` applies both to ``load_from`` (``mim test
--checkpoint``), ``tools/model_converters/convert_tcpnet.py`` writes the
converted file.
"""
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from torch import nn

from .checkpoint_file import StateDict, unwrap_state_dict

#: the two kinds of file :func:`convert_tcpnet` reads
VIDEO, GCP_IMAGENET = 'TCPNet video model', 'TCPNet GCP ImageNet model'

Rules = Sequence[Tuple[str, str]]

#: TCP module (``base_model.TCP.`` / the GCP file's top level) -> TCPHead.
#: ``layer_reduceN.0`` / ``.1``: the Sequential (conv, BN) form of the
#: reduction that TCPNet's ``keys_mapping_tea`` reads from GCP files.
HEAD_RULES: Rules = (
    (r'layer_reduce1(?:\.0)?\.weight', r'reduce.0.weight'),
    (r'layer_reduce(?:_bn1|1\.1)\.(\w+)', r'reduce.1.\1'),
    (r'layer_reduce2(?:\.0)?\.weight', r'reduce.3.weight'),
    (r'layer_reduce(?:_bn2|2\.1)\.(\w+)', r'reduce.4.\1'),
    (r'TCP_att\.TSA\.conv_phi_1\.(\w+)', r'attention.tsa.phi_prev1.\1'),
    (r'TCP_att\.TSA\.conv_phi_2\.(\w+)', r'attention.tsa.phi_prev2.\1'),
    (r'TCP_att\.TSA\.conv_phi0\.(\w+)', r'attention.tsa.phi.\1'),
    (r'TCP_att\.TSA\.norm\.(\w+)', r'attention.tsa.norm.\1'),
    (r'TCP_att\.TCA\.g1\.(\w+)', r'attention.tca.excite.0.\1'),
    (r'TCP_att\.TCA\.g2\.(\w+)', r'attention.tca.excite.2.\1'),
    (r'TCP_att\.conv_1d\.(\w+)', r'attention.conv_t.\1'),
)

#: old-style attention names (under ``layer4.iSQRT.``) -> current ones,
#: the renaming of TCPNet's ``keys_mapping_old_resnet``
OLD_STYLE_RULES: Rules = (
    (r'att_module\.conv_1\.(\w+)', r'TCP_att.TCA.g1.\1'),
    (r'att_module\.conv_2\.(\w+)', r'TCP_att.TCA.g2.\1'),
    (r'att_module\.sp_att\.conv_theta\.(\w+)', r'TCP_att.TSA.conv_phi_1.\1'),
    (r'att_module\.sp_att\.conv_phi\.(\w+)', r'TCP_att.TSA.conv_phi_2.\1'),
    (r'att_module\.sp_att\.conv_g\.(\w+)', r'TCP_att.TSA.conv_phi0.\1'),
    (r'att_module\.sp_att\.(.+)', r'TCP_att.TSA.\1'),
    (r'att_module\.(.+)', r'TCP_att.\1'),
    (r'(layer_reduce.+)', r'\1'),
)

#: torchvision's ResNet names -> MMAction2's ``ResNet`` (``ConvModule``s);
#: ``.net``: TSM's shift wrapper of each block's first convolution
BACKBONE_RULES: Rules = (
    (r'conv1\.weight', r'conv1.conv.weight'),
    (r'bn1\.(\w+)', r'conv1.bn.\1'),
    (r'(layer\d+\.\d+)\.conv(\d)((?:\.net)?)\.weight',
     r'\1.conv\2.conv\3.weight'),
    (r'(layer\d+\.\d+)\.bn(\d)\.(\w+)', r'\1.conv\2.bn.\3'),
    (r'(layer\d+\.\d+)\.downsample\.0\.weight', r'\1.downsample.conv.weight'),
    (r'(layer\d+\.\d+)\.downsample\.1\.(\w+)', r'\1.downsample.bn.\2'),
)

#: TCPHead's second reduction (conv, BN): TCPNet's GCP files reduce to 128
SECOND_REDUCTION = ('cls_head.reduce.3.', 'cls_head.reduce.4.')

#: TCPNet's classifiers: ``new_fc`` (dropout > 0), the base model's ``fc``
#: (dropout 0), ``base_model.classifier`` (renamed by its test script)
CLASSIFIER = re.compile(r'(?:new_fc|base_model\.(?:fc|classifier))\.'
                        r'(weight|bias)')


class TCPNetConversion(NamedTuple):
    """A TCPNet checkpoint in mmdtf's names."""
    state_dict: StateDict  # ``backbone.`` / ``cls_head.`` keys
    kind: str  # VIDEO or GCP_IMAGENET
    unused: List[str]  # source keys with no counterpart (the GCP's fc)


def tcpnet_kind(state_dict: StateDict) -> Optional[str]:
    """``VIDEO``, ``GCP_IMAGENET`` or None for an unwrapped state dict (no
    ``module.``, see :func:`unwrap_state_dict`)."""
    if any(k.startswith(('base_model.', 'new_fc.')) for k in state_dict):
        return VIDEO
    if any(k.startswith(('layer_reduce', 'iSQRT.layer_reduce'))
           for k in state_dict):
        return GCP_IMAGENET
    return None


def _rename(key: str, rules: Rules) -> Optional[str]:
    for pattern, replacement in rules:
        match = re.fullmatch(pattern, key)
        if match:
            return match.expand(replacement)
    return None


def _video_key(key: str) -> Optional[str]:
    classifier = CLASSIFIER.fullmatch(key)
    if classifier:
        return f'cls_head.fc_cls.{classifier.group(1)}'
    if not key.startswith('base_model.'):
        return None
    rest = key[len('base_model.'):]
    if rest.startswith('layer4.iSQRT.'):
        rest = _rename(rest[len('layer4.iSQRT.'):], OLD_STYLE_RULES)
        rest = None if rest is None else 'TCP.' + rest
    if rest is not None and rest.startswith('TCP.'):
        head = _rename(rest[len('TCP.'):], HEAD_RULES)
        return None if head is None else 'cls_head.' + head
    backbone = _rename(rest, BACKBONE_RULES) if rest is not None else None
    return None if backbone is None else 'backbone.' + backbone


def _gcp_key(key: str) -> Optional[str]:
    rest = key[len('iSQRT.'):] if key.startswith('iSQRT.') else key
    head = _rename(rest, HEAD_RULES)
    if head is not None:
        return 'cls_head.' + head
    backbone = _rename(key, BACKBONE_RULES)
    return None if backbone is None else 'backbone.' + backbone


def convert_tcpnet(checkpoint: Dict) -> TCPNetConversion:
    """Rename a TCPNet checkpoint (a video model, new or old style, or the
    GCP ImageNet ResNet-50; wrapped in ``state_dict`` or not, with or
    without ``module.``) into mmdtf's ``Recognizer2D`` + ``TCPHead`` names.

    Raises:
        ValueError: not a TCPNet checkpoint, or one whose backbone has no
            counterpart here (TCPNet's TEA / Res2Net-50 and pre-activation
            ResNet-152 models).
    """
    state_dict = unwrap_state_dict(checkpoint)
    kind = tcpnet_kind(state_dict)
    if kind is None:
        raise ValueError(
            'not a TCPNet checkpoint: no `base_model.` / `new_fc.` keys (a '
            'video model) nor top-level `layer_reduce` keys (the GCP '
            f'ImageNet model); first keys: {sorted(state_dict)[:5]}')
    rename = _video_key if kind == VIDEO else _gcp_key
    converted: StateDict = {}
    unused: List[str] = []
    unknown: List[str] = []
    for key, value in state_dict.items():
        if kind == GCP_IMAGENET and re.fullmatch(r'fc\.(weight|bias)', key):
            unused.append(key)  # the ImageNet classifier
            continue
        new_key = rename(key)
        if new_key is None:
            unknown.append(key)
        else:
            converted[new_key] = value
    if unknown:
        hint = (' (`bn_data`: a pre-activation ResNet-152)'
                if any('bn_data' in k for k in unknown) else '')
        raise ValueError(
            f'{kind}: {len(unknown)} keys have no counterpart in mmdtf\'s '
            f'ResNet / ResNetTSM + TCPHead{hint}, e.g. {unknown[:5]}. Only '
            'TCPNet\'s TSN / TSM ResNet models convert; its TEA (Res2Net-50) '
            'and ResNet-152 backbones are not in mmdtf.')
    return TCPNetConversion(converted, kind, unused)


def fit_tcpnet_to_model(conversion: TCPNetConversion, model: nn.Module
                        ) -> Tuple[StateDict, List[str]]:
    """The converted tensors that ``model`` takes, and what was left out.

    Left out, as TCPNet's fine-tuning does: a classifier of another number
    of classes (``new_fc``; the GCP model's ``fc`` is never taken), and for
    the GCP model the second reduction when ``tcp_channels`` is not its 128
    (TCPNet's ``--pretrained_dim``).

    Raises:
        ValueError: a tensor the model has not, or of another shape, naming
            the config key to change (e.g. ``num_segments`` for a 16-frame
            checkpoint in an 8-segment config).
    """
    own = model.state_dict()
    renamed = {_key_in(own, k): v for k, v in conversion.state_dict.items()}
    missing = sorted(k for k in renamed if k not in own)
    if missing:
        raise ValueError(
            f'{conversion.kind}: the model has no {missing[:5]} '
            f'({len(missing)} keys). TCPNet checkpoints fit a '
            'Recognizer2D with a ResNet / ResNetTSM backbone of the same '
            'depth (ResNetMultiFormat, ResNetTSMMultiFormat) and a TCPHead '
            'with all three attention parts on, e.g. configs/tcp/tcp-tsn_*; '
            'check model.backbone.type / depth and model.cls_head.')
    kept: StateDict = {}
    left_out = list(conversion.unused)
    for key, value in renamed.items():
        if value.shape == own[key].shape:
            kept[key] = value
        elif key.startswith('cls_head.fc_cls.'):
            left_out.append(f'{key} ({value.shape[0]} classes, the model '
                            f'has {own[key].shape[0]}: fine-tuning)')
        elif (conversion.kind == GCP_IMAGENET
              and key.startswith(SECOND_REDUCTION)):
            left_out.append(f'{key} (the GCP model reduces to '
                            f'{value.shape[0]} channels, '
                            f'model.cls_head.tcp_channels is '
                            f'{own[key].shape[0]})')
        else:
            raise ValueError(
                f'{conversion.kind}: `{key}` has shape {tuple(value.shape)}'
                f', the model expects {tuple(own[key].shape)}. '
                + _config_key_for(key))
    return kept, left_out


def _key_in(own: StateDict, key: str) -> str:
    """``key``, or its convolution inside TSM's shift wrapper (``.net``)
    where the model shifts and the file does not (a TSN file, the GCP
    model, in a TSM config)."""
    shifted = re.sub(r'\.conv\.weight$', '.conv.net.weight', key)
    return shifted if key not in own and shifted in own else key


def _config_key_for(key: str) -> str:
    if key.startswith('cls_head.attention.conv_t.'):
        return ('Its temporal kernel is num_segments // 2 + 1: set '
                'model.cls_head.num_segments to the frames the checkpoint '
                'was trained with (8 or 16; the 16-frame config is '
                'configs/tcp/tcp-tsn_*-1x1x16-*).')
    if key.startswith('cls_head.'):
        return ('Set model.cls_head.in_channels / mid_channels / '
                'tcp_channels to the checkpoint\'s (2048 / 256 / 128).')
    return 'Set model.backbone.depth to the checkpoint\'s (50).'
