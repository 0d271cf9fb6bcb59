"""CBAM spatial attention padding the pooled maps by edge replication instead of zeros.

Broken: nn.Conv2d(..., padding=k // 2, padding_mode="replicate") ("zero padding darkens the borders").
Why wrong: documents §3.3: nn.Conv2d(2, 1, k, padding=k // 2, bias=False) -- default zero padding.
Visible: only for kernel_size >= 3 and only in the gates within k // 2 pixels of the border (which
is every pixel on small maps); exact for k = 1.
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, padding_mode="replicate", bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        max_map, _ = torch.max(x, dim=1, keepdim=True)
        mean_map = torch.mean(x, dim=1, keepdim=True)
        return x * self.sigmoid(self.conv(torch.cat([max_map, mean_map], dim=1)))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
