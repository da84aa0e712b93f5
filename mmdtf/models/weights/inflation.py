"""A 2D ImageNet kernel inflated into a 3D one: how both DTF backbones'
tubelet stems (ResNetDTF's ``conv1``, SwinDTF's patch embedding) start from
a 2D network."""
import torch


def inflate_2d_kernel(weight: torch.Tensor,
                      temporal_size: int) -> torch.Tensor:
    """(C, C', kh, kw) -> (C, C', t, kh, kw), the 2D kernel spread over the
    ``t`` taps and divided by ``t`` (as MMAction2's ``ResNet3d`` inflates):
    a clip of identical frames then gives the 2D network's features."""
    return weight.unsqueeze(2).repeat(1, 1, temporal_size, 1, 1) / \
        temporal_size
