"""Per-frame multi-label head and loss of Coarse-Fine Networks."""
import math
from typing import List, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from ..blocks.grid_pool import GridUnpool
from ..blocks.multi_stage_fusion import FineFeatureReweighting


class CoarseFineFeatures(NamedTuple):
    """What :class:`CoarseFineRecognizer` hands the head.

    Attributes:
        coarse: (B, C, N, H, W) features of the N coarse frames.
        out_len: number of clip frames to score.
        grid: (B, N) Grid Pool positions of the coarse frames in [0, 1]
            (None: N evenly spaced frames).
        weights: (B, Tf, N) alignment weights of the fine frames (None
            without fusion).
        fine_top: (B, C5, Tf, h, w) top fine level (conv5), for the
            logit-level fusion (None without fusion).
    """
    coarse: torch.Tensor
    out_len: int
    grid: Optional[torch.Tensor] = None
    weights: Optional[torch.Tensor] = None
    fine_top: Optional[torch.Tensor] = None


@MODELS.register_module()
class PerFrameMultiLabelHead(BaseModule):
    """Scores every class at every frame of the input clip.

    Coarse features (B, C, N, H, W) are pooled in space, classified per
    coarse frame (1x1 convs: ``in_channels -> mid_channels -> classes``),
    optionally fused with the top fine level at the logits (paper: conv5
    features reweight the logits), and mapped back to the clip's frames by
    GridUnpool (or linear upsampling without a grid).

    Loss (paper): ``frame_loss_weight`` x per-frame BCE (mean over frames and
    classes) + ``video_loss_weight`` x BCE of the video-level max over time.

    Args:
        num_classes (int): Number of classes (Charades: 157).
        in_channels (int): Channels of the coarse features (X3D-M: 432).
        mid_channels (int): Hidden width (paper: 2048).
        fine_channels (int | None): Channels of the top fine level for the
            logit-level fusion (the public ``rw6``: the aligned fine features
            are averaged over space, then MLPs with dropout ``dropout_ratio``
            give one shift and one sigmoid scale per class and coarse frame,
            ``logits * scale + shift``); None to skip it.
        bias_prior (float | None): Start every class at this probability
            (classifier bias ``log(p / (1 - p))``) instead of 0.5; with
            sparse labels and short runs, a zero bias spends most of the
            first steps just learning that frames are mostly empty.
        unpool (str): How GridUnpool brings the coarse logits back to the
            clip's frames: ``'exact'`` (every frame located in the grid) or
            ``'public'`` (the public code's: the grid inverted at K + 1
            points, then linear upsampling), see :func:`grid_unpool`.
    """

    def __init__(self, num_classes: int, in_channels: int,
                 mid_channels: int = 2048, dropout_ratio: float = 0.5,
                 fine_channels=None, frame_loss_weight: float = 0.5,
                 video_loss_weight: float = 0.5, bias_prior=None,
                 unpool: str = 'exact', init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.frame_loss_weight = frame_loss_weight
        self.video_loss_weight = video_loss_weight
        self.fc1 = nn.Conv1d(in_channels, mid_channels, 1, bias=False)
        self.dropout = nn.Dropout(dropout_ratio)
        self.fc2 = nn.Conv1d(mid_channels, num_classes, 1)
        self.bias_prior = bias_prior
        self.unpool = GridUnpool(unpool)
        self.logit_fusion = None
        if fine_channels is not None:
            self.logit_fusion = FineFeatureReweighting(
                fine_channels, num_classes, sigmoid_scale=True,
                pool_space=True, dropout_ratio=dropout_ratio)

    def init_weights(self):
        super().init_weights()
        if self.bias_prior is not None:
            p = self.bias_prior
            nn.init.constant_(self.fc2.bias, math.log(p / (1 - p)))

    def forward(self, feats: CoarseFineFeatures) -> torch.Tensor:
        """(B, num_classes, out_len) logits at every frame of the clip."""
        x = feats.coarse.mean((3, 4))  # (B, C, N)
        x = self.fc2(self.dropout(F.relu(self.fc1(x))))
        if self.logit_fusion is not None:
            if feats.fine_top is None or feats.weights is None:
                raise ValueError('PerFrameMultiLabelHead with fine_channels '
                                 'needs fine features: set '
                                 'model.cls_head.fine_channels=None or enable'
                                 ' model.backbone.fusion')
            shift, scale = self.logit_fusion(feats.fine_top, feats.weights)
            x = x * scale.flatten(2) + shift.flatten(2)  # (B, classes, N)
        out_len = feats.out_len
        if feats.grid is not None:
            return self.unpool(x, feats.grid, out_len)
        if x.shape[2] != out_len:
            return F.interpolate(x, out_len, mode='linear', align_corners=True)
        return x

    def labels(self, data_samples: List, logits: torch.Tensor):
        labels = torch.stack([
            torch.as_tensor(ds.frame_labels, dtype=logits.dtype)
            for ds in data_samples]).to(logits.device)
        if labels.shape != logits.shape:
            raise ValueError(
                f'frame_labels of shape {tuple(labels.shape[1:])} per sample,'
                f' expected (num_classes={self.num_classes}, clip_len='
                f'{logits.shape[2]}): check model.cls_head.num_classes and '
                'the clip_len of SampleDetectionFrames')
        return labels

    def loss(self, feats: CoarseFineFeatures, data_samples: List,
             **kwargs) -> dict:
        logits = self(feats)
        labels = self.labels(data_samples, logits)
        frame = F.binary_cross_entropy_with_logits(logits, labels)
        # max over time of the probabilities == sigmoid of the max logit
        video = F.binary_cross_entropy_with_logits(logits.amax(2),
                                                   labels.amax(2))
        return dict(loss_frame=self.frame_loss_weight * frame,
                    loss_video=self.video_loss_weight * video)

    def predict(self, feats: CoarseFineFeatures, data_samples: List,
                **kwargs) -> List:
        scores = torch.sigmoid(self(feats)).detach()
        for ds, s in zip(data_samples, scores):
            ds.set_field(s, 'pred_frame_scores')
        return data_samples
