"""TCA: temporal channel attention of TCPNet from frame differences."""
from mmengine.model.weight_init import normal_init
from torch import Tensor, nn


class TemporalChannelAttention(nn.Module):
    """Channel weights from first and second order frame differences.

    On the spatially pooled (V*T, C) features: ``d1 = x_t - x_{t-1}`` and
    ``d2 = (x_t - x_{t-2}) / 2`` (cyclic in t, as TCPNet), each through the
    same ``C -> 4C -> C`` bottleneck and a sigmoid; the mean of the two
    weights ``x_att`` (the TSA output) channel-wise.

    Args:
        channels (int): C.
        num_segments (int): T, frames per clip.
        expansion (int): the bottleneck's width factor (4 in TCPNet).
    """

    def __init__(self, channels: int, num_segments: int,
                 expansion: int = 4) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.excite = nn.Sequential(
            nn.Conv2d(channels, channels * expansion, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels * expansion, channels, 1),
            nn.Sigmoid())
        self.init_weights()

    def init_weights(self) -> None:
        for m in self.excite:
            if isinstance(m, nn.Conv2d):
                normal_init(m, std=0.01)

    def forward(self, x: Tensor, x_att: Tensor) -> Tensor:
        n, c = x.shape[:2]
        pooled = x.mean(dim=(2, 3)).view(n // self.num_segments,
                                         self.num_segments, c)
        diff1 = pooled - pooled.roll(1, dims=1)
        diff2 = (pooled - pooled.roll(2, dims=1)) * 0.5
        weight1 = self.excite(diff1.reshape(n, c, 1, 1))
        weight2 = self.excite(diff2.reshape(n, c, 1, 1))
        return x_att * (weight1 + weight2) * 0.5
