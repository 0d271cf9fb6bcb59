"""CBAM spatial attention that runs its convolution in float32 ("conv kernels are float32 anyway").

Broken: logits = F.conv2d(pooled.float(), conv.weight.float(), padding=k // 2).to(x.dtype).
Why wrong: attncert's requirements: float64 outputs must match the float64 oracle within a float64 error budget;
the documents' block computes in the input's dtype.
Visible: only for float64 inputs (errors ~1e-8); for float32 inputs it is exact. The conv
weight's gradient is float32-accurate only, too.
"""

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        k = self.conv.weight.shape[-1]
        logits = F.conv2d(pooled.float(), self.conv.weight.float(), padding=k // 2).to(x.dtype)
        return x * torch.sigmoid(logits)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
