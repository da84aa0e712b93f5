"""TCP's temporal attention module against a per-frame loop reference,
its identity at initialisation and its temporal padding for any T."""
import pytest
import torch
from naive_tcp_head import reference_attention  # tests/ is on sys.path

from mmdtf.models.heads.tcp import TemporalAttention, circular_padding


def randomised(module):
    """Non-zero values where the module starts at zero."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.3)
        bn = module.tsa.norm
        bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen))
        bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + .5)
    return module


@pytest.mark.parametrize('t', [3, 4, 5])
def test_attention_matches_frame_loop_reference(t):
    torch.manual_seed(0)
    module = randomised(TemporalAttention(4, t).double()).eval()
    x = torch.randn(2 * t, 4, 2, 3, dtype=torch.float64).relu()
    with torch.no_grad():
        torch.testing.assert_close(module(x), reference_attention(module, x, t))


@pytest.mark.parametrize('train', [True, False])
def test_attention_is_identity_at_init(train):
    torch.manual_seed(0)
    module = TemporalAttention(8, 8).train(train)
    x = torch.randn(16, 8, 3, 3).relu()  # post-ReLU features, as in TCPHead
    torch.testing.assert_close(module(x), x)
    # ... and not once trained away from zero
    with torch.no_grad():
        module.conv_t.weight.normal_()
    assert not torch.allclose(module(x), x)


@pytest.mark.parametrize('t', range(1, 17))
def test_temporal_conv_keeps_t_frames(t):
    """T // 2 + 1 is even where T // 2 is odd (T = 2, 3, 6, 7, ...):
    TCPNet's symmetric circular padding outputs T - 1 frames there; ours
    keeps T for every T."""
    torch.manual_seed(0)
    before, after = circular_padding(t // 2 + 1)
    assert before + after == t // 2  # = kernel - 1
    module = TemporalAttention(2, t, self_attention=False,
                               channel_attention=False)
    assert module(torch.rand(3 * t, 2, 1, 1)).shape == (3 * t, 2, 1, 1)
