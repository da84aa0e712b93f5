"""CoarseFineRecognizer: fine features padded per batch, and a test batch of
clips of different lengths refused with the config key to change."""
import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample

from mmdtf.models.recognizers.coarse_fine_recognizer import (
    check_equal_clip_lengths, pad_fine_features)


def sample(length, span):
    ds = ActionDataSample()
    ds.set_field([np.full((2, length, 1, 1), length, np.float32),
                  np.ones((3, length, 1, 1), np.float32)], 'fine_feats')
    ds.set_field(np.array(span, np.float32), 'clip_span')
    return ds


def test_fine_features_are_padded_with_a_mask():
    levels, mask, span = pad_fine_features([sample(3, [0, 2]),
                                            sample(5, [1, 3])], 'cpu')
    assert [tuple(t.shape) for t in levels] == [(2, 2, 5, 1, 1),
                                                (2, 3, 5, 1, 1)]
    torch.testing.assert_close(mask, torch.tensor([[1., 1, 1, 0, 0],
                                                   [1, 1, 1, 1, 1]]))
    assert levels[0][0, :, 3:].abs().sum() == 0  # padding is zero
    assert (levels[0][1] == 5).all()
    torch.testing.assert_close(span, torch.tensor([[0., 2], [1, 3]]))


def test_test_batch_of_different_lengths_names_the_batch_size_keys():
    same = dict(inputs=[torch.zeros(1, 3, 8, 4, 4)] * 2)
    check_equal_clip_lengths(same)
    mixed = dict(inputs=[torch.zeros(1, 3, 8, 4, 4),
                         torch.zeros(1, 3, 12, 4, 4)])
    with pytest.raises(ValueError, match='test_dataloader.batch_size'):
        check_equal_clip_lengths(mixed)
