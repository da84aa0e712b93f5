"""MMAction2's heads under bfloat16 autocast: scores reach NumPy (top-k
accuracy, AccMetric) as float32."""
import torch
from mmaction.models.heads import I3DHead
from mmaction.structures import ActionDataSample


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
