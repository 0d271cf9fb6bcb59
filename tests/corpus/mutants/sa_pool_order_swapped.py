"""CBAM spatial attention stacking [mean, max] instead of [max, mean] (timm's order) on the plain spec.

Broken: torch.cat([mean_map, max_map], dim=1) -- the conv weight's input channel 0 now sees the
mean and channel 1 the max.
Why wrong: documents §3.3 code: torch.cat([x_maxpool, x_avgpool], dim=1); the canonical weight
`conv.weight [1, 2, k, k]` has input channel 0 = max, 1 = mean (the plug-in contract). The swapped order is a
spec *variant* (spatial_attention.pool_order = mean_max) that must be declared.
Visible: whenever the max and the mean over channels differ, i.e. C > 1. At C = 1 both maps are
the input itself and the mutant is exact -- a harness testing only C = 1 misses it.
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        max_map, _ = torch.max(x, dim=1, keepdim=True)
        mean_map = torch.mean(x, dim=1, keepdim=True)
        return x * self.sigmoid(self.conv(torch.cat([mean_map, max_map], dim=1)))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
