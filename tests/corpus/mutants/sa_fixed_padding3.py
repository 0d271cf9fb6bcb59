"""CBAM spatial attention with padding hard-coded to 3 (right for 7x7 only).

Broken: nn.Conv2d(2, 1, kernel_size, padding=3).
Why wrong: documents §3.3: padding = kernel_size // 2 "为了保持卷积前后的特征图shape相同", and the
documents name 7x7 "or 3x3, 1x1" kernels. With k != 7 the gate map is (H + 7 - k) x (W + 7 - k).
Visible: only for kernel_size != 7: the product with the input then raises a broadcasting error,
or -- where H or W is 1 -- broadcasts silently to an output of the wrong shape (e.g. k = 1 on a
[1, 2, 1, 1] input returns [1, 2, 7, 7]); the default k = 7 is exact.
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=3, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
