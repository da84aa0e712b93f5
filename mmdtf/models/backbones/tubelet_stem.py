"""What both DTF backbones share about their stem: a tubelet of ``s`` frames
(kernel = stride = ``s`` in time) is their only temporal down-sampling, and
a 2D ImageNet kernel is inflated into it."""
import torch

CLIP_LEN_KEY = 'model.backbone.clip_len'


def check_clip_len(backbone: str, clip_len: int, temporal_stride: int) -> int:
    """The ``T = clip_len / temporal_stride`` frames the DTF blocks see;
    raises naming both config keys unless the stride divides the clip."""
    if temporal_stride < 1 or clip_len < temporal_stride or \
            clip_len % temporal_stride:
        raise ValueError(
            f'{backbone}: clip_len={clip_len} must be a positive multiple '
            f'of temporal_stride={temporal_stride}; set `{CLIP_LEN_KEY}` '
            'and `model.backbone.temporal_stride`.')
    return clip_len // temporal_stride


def inflate_2d_kernel(weight: torch.Tensor,
                      temporal_stride: int) -> torch.Tensor:
    """(C, C', kh, kw) -> (C, C', s, kh, kw), the 2D kernel spread over the
    ``s`` taps and divided by ``s``: a clip of identical frames then gives
    the 2D network's features."""
    return weight.unsqueeze(2).repeat(1, 1, temporal_stride, 1, 1) / \
        temporal_stride
