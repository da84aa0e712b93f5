"""tools/analysis_tools/compare_dtf_variants.py: every variant row builds from
the demo config (options a variant does not read are unset), and top-1 is
recomputed from a dump by hand."""
import pickle

import numpy as np
import pytest
import torch
from mmaction.registry import MODELS

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)

tool = helpers.load_tool('analysis_tools/compare_dtf_variants')


@pytest.mark.parametrize('name', list(tool.VARIANTS))
def test_every_variant_builds_and_runs(name, tmp_path):
    (tmp_path / 'classes.txt').write_text('a\nb\nc\n')
    cfg = tool.variant_config(name, tmp_path, tmp_path / 'work', 2)
    assert cfg.model.cls_head.num_classes == 3
    assert cfg.train_cfg.max_epochs == 2
    backbone = MODELS.build(cfg.model.backbone)
    backbone.init_weights()
    backbone.eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 16, 32, 32))
    assert out.shape == (1, 512, 4, 1, 1)
    blocks = [m for m in backbone.modules()
              if type(m).__name__ == 'DTFBlock']
    assert (len(blocks) == 0) == (name == '2d')


def write_dump(tmp_path, scores, labels):
    """A DumpResults file of one prediction per video."""
    dump = tmp_path / 'scores.pkl'
    with open(dump, 'wb') as f:
        pickle.dump([dict(pred_score=torch.tensor(s),
                          gt_label=torch.tensor([label]))
                     for s, label in zip(scores, labels)], f)
    return dump


def test_accuracy_from_dump(tmp_path):
    scores = [[.9, .1], [.2, .8], [.6, .4], [.3, .7]]
    labels = [0, 1, 1, 1]
    result = tool.accuracy(write_dump(tmp_path, scores, labels), pair=(1, ))
    assert result['top1'] == pytest.approx(0.75)
    assert result['pair'] == pytest.approx(2 / 3)
    assert result['num'] == 4
    assert np.isclose(result['top1'] * 4, 3)


def test_non_finite_scores_count_as_wrong(tmp_path):
    """A video whose scores overflowed is wrong, even where NaN's argmax
    (0) is its label, and is counted."""
    scores = [[float('nan'), .1], [.2, .8], [.6, float('inf')]]
    labels = [0, 1, 1]
    result = tool.accuracy(write_dump(tmp_path, scores, labels), pair=(1, ))
    assert result['top1'] == pytest.approx(1 / 3)
    assert result['nonfinite'] == 2


def test_one_epoch_is_refused_with_the_reason(capsys):
    with pytest.raises(SystemExit):
        tool.main(['--epochs', '1'])
    assert '--epochs must be at least 2, got 1' in capsys.readouterr().err
