"""CBAM spatial attention feeding the mean map twice (average instead of max over channels).

Broken: the first pooled map is x.mean(dim=1) instead of x.max(dim=1) (a copy-paste of the line below).
Why wrong: documents §3.3: "对输入特征图在通道维度下做最大池化和平均池化" -- torch.max(inputs, dim=1) and
torch.mean(inputs, dim=1).
Visible: only when C > 1 (at C = 1 max and mean of one channel agree).
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        x_maxpool = torch.mean(x, dim=1, keepdim=True)
        x_avgpool = torch.mean(x, dim=1, keepdim=True)
        return x * torch.sigmoid(self.conv(torch.cat([x_maxpool, x_avgpool], dim=1)))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
