"""CBAM spatial attention building the pooled maps with a bare `.squeeze()` and torch.stack.

Broken: max_map = x.max(dim=1)[0].squeeze(); mean_map = x.mean(dim=1).squeeze();
torch.stack([max_map, mean_map], dim=1). `.squeeze()` also drops a size-1 batch, height or width,
so the stacked tensor is no longer [B, 2, H, W]: the conv then raises, or -- at B = 1, H = 2 --
silently treats the two rows as the two input channels and returns a wrong gate that still
broadcasts.
Why wrong: documents §3.3: torch.max(inputs, dim=1, keepdim=True) / torch.mean(..., keepdim=True)
then torch.cat(..., dim=1) -- [b, 1, h, w] maps for every b, h, w >= 1.
Visible: only when B = 1, H = 1 or W = 1; exact for B, H, W >= 2.
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        max_map = x.max(dim=1)[0].squeeze()
        mean_map = x.mean(dim=1).squeeze()
        return x * torch.sigmoid(self.conv(torch.stack([max_map, mean_map], dim=1)))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
