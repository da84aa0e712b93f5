"""A deliberately naive TCPHead (eval mode), for float64 tests: one frame and
one clip at a time, from pieces each checked on its own.

1x1 convolutions are matrix products, batch norms their eval formula, the
temporal attention a loop over frames and positions, the covariance
``torch.cov``, the square root the coupled Newton-Schulz recursion of
iSQRT-COV as written in its paper, the upper triangle two loops.
"""
import math

import torch


def conv1x1(conv, v):
    """A 1x1 conv on one (C, P) frame."""
    return conv.weight[:, :, 0, 0] @ v + (
        0 if conv.bias is None else conv.bias[:, None])


def batch_norm(bn, v):
    """Eval-mode BN on one (C, P) frame."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return (v - bn.running_mean[:, None]) * scale[:, None] + bn.bias[:, None]


def reference_attention(module, x, t):
    """TSA, TCA and the temporal conv frame by frame (eval-mode BN)."""
    n, c, h, w = x.shape
    frames = x.view(n // t, t, c, h * w)
    tsa, tca, conv = module.tsa, module.tca, module.conv_t
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
            y = frames[v, s] + batch_norm(tsa.norm, y)
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


def newton_schulz_sqrt(cov, num_iterations, eps):
    """iSQRT of one (D, D) matrix: ``A = cov / (tr + eps)``, ``Y_0 = A``,
    ``Z_0 = I``, ``T = (3I - Z Y) / 2``, ``Y <- Y T``, ``Z <- T Z``; then
    ``Y sqrt(tr)``."""
    trace = sum(cov[i, i] for i in range(cov.shape[0]))
    y = cov / (trace + eps)
    z = torch.eye(cov.shape[0], dtype=cov.dtype)
    for _ in range(num_iterations):
        step = 0.5 * (3 * torch.eye(cov.shape[0], dtype=cov.dtype) - z @ y)
        y, z = y @ step, step @ z
    return y * math.sqrt(trace)


def naive_tcp_head(head, x, t):
    """Scores (clips, classes) of an eval-mode ``TCPHead`` on (clips * T, C,
    H, W) features, the TCP module with all three attention parts."""
    conv1, bn1, _, conv2, bn2, _ = head.reduce
    n, _, h, w = x.shape
    reduced = []
    for frame in x.flatten(2):  # (C, H*W)
        mid = torch.relu(batch_norm(bn1, conv1x1(conv1, frame)))
        reduced.append(torch.relu(batch_norm(bn2, conv1x1(conv2, mid))))
    reduced = torch.stack(reduced).view(n, -1, h, w)
    attended = reference_attention(head.attention, reduced, t)
    scores = []
    for v in range(n // t):
        # every position of every frame of the clip is one sample
        positions = torch.cat([attended[v * t + s].flatten(1)
                               for s in range(t)], dim=1)
        cov = torch.cov(positions, correction=0)
        root = newton_schulz_sqrt(cov, head.sqrt.num_iterations, head.sqrt.eps)
        dim = root.shape[0]
        vector = torch.stack([root[i, j] for i in range(dim)
                              for j in range(i, dim)])
        scores.append(head.fc_cls.weight @ vector + head.fc_cls.bias)
    return torch.stack(scores)
