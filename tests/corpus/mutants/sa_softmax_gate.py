"""CBAM spatial attention normalising with a softmax over the H * W positions.

Broken: gate = softmax(conv(pooled).flatten(2), dim=-1) -- an attention map that sums to 1.
Why wrong: documents §3.3: "将卷积后的结果经过 sigmoid 函数对特征图的空间权重归一化" -- an independent
sigmoid per pixel.
Visible: at every size (even H = W = 1: softmax of one logit is 1, sigmoid is not).
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        logits = self.conv(pooled)
        gate = torch.softmax(logits.reshape(b, 1, h * w), dim=-1).reshape(b, 1, h, w)
        return x * gate


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
