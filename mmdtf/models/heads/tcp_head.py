"""TCPHead: temporal-attentive covariance pooling (TCPNet, NeurIPS 2021)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmaction.models.heads.base import BaseHead
from mmaction.registry import MODELS
from mmaction.utils import ConfigType
from mmengine.model.weight_init import constant_init, kaiming_init, normal_init
from torch import Tensor, nn

from .tcp import (CovariancePool, NewtonSchulzSqrt, TemporalAttention,
                  upper_triangle)


@MODELS.register_module()
class TCPHead(BaseHead):
    """Temporal-attentive covariance pooling head (Gao et al., NeurIPS 2021).

    Replaces global average pooling of any 2D or 3D backbone: per clip of T
    frames, two 1x1 conv + BN + ReLU reduce the channels
    (``in_channels -> mid_channels -> tcp_channels``, 256 and 128 in the
    paper), the temporal attention module (TSA, TCA, temporal conv; the
    identity at initialisation) sees the order of the frames, the biased
    covariance of the ``tcp_channels`` features over all T*H*W positions is
    normalised by iSQRT (``num_iterations`` Newton-Schulz steps) and its
    upper triangle (8256 values for 128 channels) goes through dropout and
    the classifier.

    Input layouts: (N * num_segs, C, H, W) from ``Recognizer2D`` (frames as
    a batch; every ``num_segments`` consecutive frames are one clip: the
    TSM layout, see ``SegmentsToClips`` for multi-clip TSN-style tests), or
    (N * views, C, T, H, W) from ``Recognizer3D`` with ``T == num_segments``.
    Either way one score row per clip (view); ``BaseHead`` averages the views
    of each sample (``average_clips``), so clips never mix with the batch.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the backbone output.
        num_segments (int): T, frames (feature maps) per clip at the head.
        mid_channels (int): Width of the first reduction. Default 256.
        tcp_channels (int): D, width of the covariance. Default 128.
        num_iterations (int): Newton-Schulz iterations. Default 3.
        self_attention, channel_attention, temporal_conv (bool): parts of
            the temporal attention module (all on in TCPNet).
        dropout_ratio (float): Before the classifier. Default 0.5.
        init_std (float): Std of the classifier init. Default 0.001.
        loss_cls (dict): Loss config. Default CrossEntropyLoss.
        kwargs: ``BaseHead``'s other arguments: ``average_clips`` takes
            ``'max_prob'`` too, TCPNet's test (its ``test_models.py``): the
            softmax of every view, then their maximum, per class.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_segments: int = 8,
                 mid_channels: int = 256,
                 tcp_channels: int = 128,
                 num_iterations: int = 3,
                 self_attention: bool = True,
                 channel_attention: bool = True,
                 temporal_conv: bool = True,
                 dropout_ratio: float = 0.5,
                 init_std: float = 0.001,
                 loss_cls: ConfigType = dict(type='CrossEntropyLoss'),
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, loss_cls, **kwargs)
        self.num_segments = num_segments
        self.init_std = init_std
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False),
            nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, tcp_channels, 1, bias=False),
            nn.BatchNorm2d(tcp_channels), nn.ReLU(inplace=True))
        self.attention = TemporalAttention(tcp_channels, num_segments,
                                           self_attention, channel_attention,
                                           temporal_conv)
        self.covariance = CovariancePool()
        self.sqrt = NewtonSchulzSqrt(num_iterations)
        self.dropout = nn.Dropout(dropout_ratio) if dropout_ratio else None
        self.fc_cls = nn.Linear(tcp_channels * (tcp_channels + 1) // 2,
                                num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        for m in self.reduce:
            if isinstance(m, nn.Conv2d):
                kaiming_init(m, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                constant_init(m, 1)
        self.attention.init_weights()
        normal_init(self.fc_cls, std=self.init_std)

    def frames_of_clips(self, x: Tensor, num_segs: Optional[int]) -> Tensor:
        """(clips * T, C, H, W) from either recognizer's features."""
        t = self.num_segments
        if x.dim() == 5:  # Recognizer3D: (N * views, C, T, H, W)
            if x.shape[2] != t:
                raise ValueError(
                    f'TCPHead got features with {x.shape[2]} frames '
                    f'(shape {tuple(x.shape)}), built for num_segments={t}: '
                    'set model.cls_head.num_segments to the time size of '
                    'the backbone output.')
            return x.transpose(1, 2).flatten(0, 1)
        if x.dim() != 4:
            raise ValueError('TCPHead expects (N*num_segs, C, H, W) or '
                             f'(N, C, T, H, W) features, got {tuple(x.shape)}')
        if num_segs is not None and num_segs % t:
            raise ValueError(
                f'TCPHead got {num_segs} frames per sample (num_segs), not a '
                f'multiple of num_segments={t}: set model.cls_head.'
                'num_segments to the segments per clip of the pipeline.')
        if x.shape[0] % t:
            raise ValueError(f'TCPHead got {x.shape[0]} frames, not a '
                             f'multiple of num_segments={t}.')
        return x

    def pool(self, x: Tensor, num_segs: Optional[int] = None) -> Tensor:
        """The TCP representation (clips, D(D+1)/2) of backbone features."""
        x = self.attention(self.reduce(self.frames_of_clips(x, num_segs)))
        n, d, h, w = x.shape
        t = self.num_segments
        x = x.view(n // t, t, d, h * w).transpose(1, 2).reshape(
            n // t, d, t * h * w)
        # The covariance and its Newton-Schulz iterations in float32 even
        # under autocast: in half precision the sums over T*H*W positions
        # and the repeated matrix products lose the small eigenvalues and the
        # iteration diverges (iSQRT-COV trains in float32).
        dtype = torch.promote_types(x.dtype, torch.float32)
        with torch.autocast(device_type=x.device.type, enabled=False):
            return upper_triangle(self.sqrt(self.covariance(x.to(dtype))))

    def average_clip(self, cls_scores: Tensor, num_segs: int = 1) -> Tensor:
        """``BaseHead``'s, plus ``average_clips='max_prob'``."""
        if self.average_clips != 'max_prob':
            return super().average_clip(cls_scores, num_segs)
        views = cls_scores.view(-1, num_segs, *cls_scores.shape[1:])
        return F.softmax(views, dim=2).amax(dim=1)

    def forward(self, x: Tensor, num_segs: Optional[int] = None,
                **kwargs) -> Tensor:
        """Scores (clips, num_classes), one row per clip (view)."""
        x = self.pool(x, num_segs)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x.to(self.fc_cls.weight.dtype))
