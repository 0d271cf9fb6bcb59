"""CBAM spatial attention summing over channels instead of averaging.

Broken: the second pooled map is x.sum(dim=1) instead of x.mean(dim=1).
Why wrong: documents §3.3: "在通道维度上平均池化" -- torch.mean(inputs, dim=1, keepdim=True).
Visible: only when C > 1 (the sum is C times the mean); exact at C = 1.
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.sum(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
