"""TSA: temporal self-attention of TCPNet over frames t-1 and t-2."""
import torch
import torch.nn.functional as F
from mmengine.model.weight_init import constant_init, kaiming_init
from torch import Tensor, nn


def shift_forward(x: Tensor, steps: int) -> Tensor:
    """Frame t gets frame ``max(t - steps, 0)`` of (V, T, ...): the first
    frame repeats at the start (TCPNet's TSA)."""
    first = x[:, :1].expand(-1, min(steps, x.shape[1]), *x.shape[2:])
    return torch.cat((first, x[:, :x.shape[1] - steps]), dim=1)


class TemporalSelfAttention(nn.Module):
    """Non-local attention whose affinity is between frames t-1 and t-2.

    On (V*T, C, H, W): ``theta = softmax(phi_{-1}(x_{t-1})^T phi_{-2}(x_{t-2})
    / sqrt(C))`` over the H*W positions of frame t-2, applied to
    ``phi_0(x_t)``, then a batch norm whose scale starts at zero, and a
    residual: the module is the identity at initialisation.

    Args:
        channels (int): C.
        num_segments (int): T, frames per clip.
    """

    def __init__(self, channels: int, num_segments: int) -> None:
        super().__init__()
        self.channels = channels
        self.num_segments = num_segments
        self.phi_prev1 = nn.Conv2d(channels, channels, 1)
        self.phi_prev2 = nn.Conv2d(channels, channels, 1)
        self.phi = nn.Conv2d(channels, channels, 1)
        self.norm = nn.BatchNorm2d(channels)
        self.init_weights()

    def init_weights(self) -> None:
        for conv in (self.phi_prev1, self.phi_prev2, self.phi):
            kaiming_init(conv, mode='fan_out', nonlinearity='relu')
        constant_init(self.norm, 0)  # zero scale: identity at the start

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        clips = x.view(n // self.num_segments, self.num_segments, c, h, w)
        prev1 = shift_forward(clips, 1).reshape(n, c, h, w)
        prev2 = shift_forward(clips, 2).reshape(n, c, h, w)
        query = self.phi_prev1(prev1).flatten(2)  # (N, C, HW)
        key = self.phi_prev2(prev2).flatten(2)
        value = self.phi(x).flatten(2)
        affinity = torch.einsum('nca,ncb->nab', query, key)
        affinity = F.softmax(affinity * c**-0.5, dim=2)
        out = torch.einsum('nab,ncb->nca', affinity, value)
        return x + self.norm(out.reshape(n, c, h, w))
