"""MMAction2's heads under bfloat16 autocast: scores reach NumPy (top-k
accuracy, AccMetric) as float32."""
import pytest
import torch
from mmaction.models.heads import I3DHead
from mmaction.models.heads.base import BaseHead
from mmaction.structures import ActionDataSample

from mmdtf.compat import bfloat16_heads


def test_bfloat16_scores_give_float32_loss_and_predictions():
    head = I3DHead(num_classes=4, in_channels=8)
    samples = [ActionDataSample().set_gt_label(label) for label in (0, 3)]
    scores = torch.tensor([[2., 0., 0., 0.], [0., 0., 0., 1.]],
                          dtype=torch.bfloat16)
    losses = head.loss_by_feat(scores, samples)
    assert losses['top1_acc'].item() == 1.0
    assert losses['loss_cls'].dtype == torch.float32
    predictions = head.predict_by_feat(scores, samples)
    assert predictions[0].pred_score.dtype == torch.float32
    assert predictions[1].pred_score.argmax().item() == 3
    # other dtypes pass unchanged
    half = head.predict_by_feat(scores.half(), samples)
    assert half[0].pred_score.dtype == torch.float16


@pytest.fixture
def mmaction_heads(monkeypatch):
    """BaseHead as MMAction2 1.2.0 ships it (before `import mmdtf`)."""
    for name in ('loss_by_feat', 'predict_by_feat'):
        monkeypatch.setattr(BaseHead, name,
                            getattr(BaseHead, name).__wrapped__)


def test_probe_and_fix_on_mmaction_1_2(mmaction_heads):
    assert bfloat16_heads.defect_present()
    assert bfloat16_heads.apply() is True
    assert not bfloat16_heads.defect_present()


def test_no_op_when_heads_take_bfloat16(monkeypatch, mmaction_heads):
    loss_by_feat = BaseHead.loss_by_feat

    def fixed_upstream(self, cls_scores, *args, **kwargs):
        return loss_by_feat(self, cls_scores.float(), *args, **kwargs)

    monkeypatch.setattr(BaseHead, 'loss_by_feat', fixed_upstream)
    predict_by_feat = BaseHead.predict_by_feat
    assert not bfloat16_heads.defect_present()
    assert bfloat16_heads.apply() is False
    assert BaseHead.loss_by_feat is fixed_upstream
    assert BaseHead.predict_by_feat is predict_by_feat
