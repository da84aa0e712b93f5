"""Recognizer that feeds the fine stream's features (carried in the data
samples) to X3DCoarseFine and a per-frame head."""
from typing import List

import torch
import torch.nn.functional as F
from mmaction.models.recognizers import Recognizer3D
from mmaction.registry import MODELS

from ..heads.per_frame_head import CoarseFineFeatures


def pad_fine_features(data_samples, device, dtype=torch.float32):
    """Stacks each sample's ``fine_feats`` (list of (C, Tf, h, w) arrays, Tf
    varying per video) into (B, C, Tf_max, h, w) tensors plus a (B, Tf_max)
    mask, and ``clip_span`` into (B, 2), on ``device`` in ``dtype`` (the
    clips')."""
    for i, ds in enumerate(data_samples):
        if 'fine_feats' not in ds or 'clip_span' not in ds:
            raise KeyError(
                f'data sample {i} ({ds.metainfo.get("video_id")}) has no '
                'fine_feats/clip_span: add LoadFineFeatures to the pipeline '
                "and 'fine_feats', 'clip_span' to PackActionInputs' "
                'algorithm_keys')
    lengths = [int(ds.fine_feats[0].shape[1]) for ds in data_samples]
    tmax = max(lengths)
    levels = []
    for level in range(len(data_samples[0].fine_feats)):
        levels.append(torch.stack([
            F.pad(torch.as_tensor(ds.fine_feats[level], dtype=dtype),
                  (0, 0, 0, 0, 0, tmax - n))
            for ds, n in zip(data_samples, lengths)]).to(device))
    mask = torch.zeros(len(lengths), tmax, device=device, dtype=dtype)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    span = torch.stack([torch.as_tensor(ds.clip_span, dtype=dtype)
                        for ds in data_samples]).to(device)
    return levels, mask, span


def check_equal_clip_lengths(data: dict) -> None:
    """Test clips at the training frame rate are as long as their videos;
    the data preprocessor would zero-pad a batch of them to one length, and
    the padding would be scored as frames."""
    inputs = data.get('inputs') if isinstance(data, dict) else None
    if isinstance(inputs, (list, tuple)) and len(inputs) > 1:
        lengths = sorted({tuple(x.shape) for x in inputs})
        if len(lengths) > 1:
            raise ValueError(
                f'a test batch of {len(inputs)} clips of different shapes '
                f'{lengths}: SampleDetectionFrames tests every video whole at'
                ' the training frame rate (test_sampling=\'interval\'), so '
                'clip lengths differ; set val_dataloader.batch_size and '
                'test_dataloader.batch_size to 1 (as the public code)')


@MODELS.register_module()
class CoarseFineRecognizer(Recognizer3D):
    """Recognizer3D whose features are a :class:`CoarseFineFeatures` for
    :class:`PerFrameMultiLabelHead`: coarse features, Grid Pool grid,
    alignment weights, the top fine level and the clip length."""

    def extract_feat(self, inputs, stage='neck', data_samples=None,
                     test_mode=False):
        if inputs.dim() == 6:
            if inputs.shape[1] != 1:
                raise ValueError(
                    'CoarseFineRecognizer scores one clip per video; got '
                    f'{inputs.shape[1]} clips/crops (set num_clips=1 and no '
                    'ThreeCrop/TenCrop in the pipeline)')
            inputs = inputs[:, 0]
        fine_feats, fine_mask, span = None, None, None
        if getattr(self.backbone, 'fusion', None) is not None:
            if data_samples is None:
                raise ValueError('fusion needs the data samples (fine '
                                 'features); call loss/predict with them')
            fine_feats, fine_mask, span = pad_fine_features(
                data_samples, inputs.device, inputs.dtype)
        coarse, grid, weights = self.backbone(inputs, fine_feats, fine_mask,
                                              span)
        feats = CoarseFineFeatures(
            coarse=coarse, out_len=inputs.shape[2], grid=grid,
            weights=weights,
            fine_top=None if fine_feats is None else fine_feats[-1])
        return feats, dict()

    def val_step(self, data):
        check_equal_clip_lengths(data)
        return super().val_step(data)

    def test_step(self, data):
        check_equal_clip_lengths(data)
        return super().test_step(data)

    def predict(self, inputs, data_samples: List, **kwargs):
        feats, _ = self.extract_feat(inputs, data_samples=data_samples,
                                     test_mode=True)
        return self.cls_head.predict(feats, data_samples)
