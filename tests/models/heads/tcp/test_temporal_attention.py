"""TCP's temporal attention module against a per-frame loop reference,
its identity at initialisation and its temporal padding for any T."""
import math

import pytest
import torch

from mmdtf.models.heads.tcp import TemporalAttention, circular_padding


def conv1x1(conv, v):
    """A 1x1 conv on one (C, P) frame."""
    return conv.weight[:, :, 0, 0] @ v + conv.bias[:, None]


def reference_attention(module, x, t):
    """TSA, TCA and the temporal conv frame by frame (eval-mode BN)."""
    n, c, h, w = x.shape
    frames = x.view(n // t, t, c, h * w)
    tsa, tca, conv = module.tsa, module.tca, module.conv_t
    bn = tsa.norm
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    out = torch.empty_like(frames)
    for v in range(n // t):
        pooled = [frames[v, s].mean(1) for s in range(t)]
        att = []
        for s in range(t):
            q = conv1x1(tsa.phi_prev1, frames[v, max(s - 1, 0)])
            k = conv1x1(tsa.phi_prev2, frames[v, max(s - 2, 0)])
            val = conv1x1(tsa.phi, frames[v, s])
            y = torch.zeros(c, h * w, dtype=x.dtype)
            for a in range(h * w):
                logits = torch.stack([q[:, a] @ k[:, b] for b in range(h * w)])
                weights = torch.softmax(logits / math.sqrt(c), 0)
                y[:, a] = sum(weights[b] * val[:, b] for b in range(h * w))
            y = (y - bn.running_mean[:, None]) * scale[:, None] + \
                bn.bias[:, None]
            y = frames[v, s] + y
            g1, g2 = tca.excite[0], tca.excite[2]

            def excite(d):
                hidden = torch.relu(g1.weight[:, :, 0, 0] @ d + g1.bias)
                return torch.sigmoid(g2.weight[:, :, 0, 0] @ hidden + g2.bias)

            d1 = pooled[s] - pooled[(s - 1) % t]
            d2 = (pooled[s] - pooled[(s - 2) % t]) / 2
            att.append(y * ((excite(d1) + excite(d2)) / 2)[:, None])
        k_size = conv.weight.shape[2]
        before = (k_size - 1) // 2
        for s in range(t):
            z = conv.bias[:, None].expand(c, h * w).clone()
            for j in range(k_size):
                z = z + conv.weight[:, :, j, 0, 0] @ att[(s + j - before) % t]
            out[v, s] = torch.relu(z + frames[v, s])
    return out.view(n, c, h, w)


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
    """T // 2 + 1 is even for odd T: TCPNet's symmetric circular padding
    outputs T - 1 frames there; ours keeps T for every T."""
    before, after = circular_padding(t // 2 + 1)
    assert before + after == t // 2  # = kernel - 1
    module = TemporalAttention(2, t, self_attention=False,
                               channel_attention=False)
    assert module(torch.rand(3 * t, 2, 1, 1)).shape == (3 * t, 2, 1, 1)
