"""CBAM with a residual connection around the block (fightingcv's CBAMBlock) on the plain spec.

Broken: forward returns x + spatial(channel(x)).
Why wrong: documents §3.4: the module returns spatial_attention(channel_attention(inputs)) -- the
"加权后的特征图", no skip connection. The residual add is a spec *variant* (cbam.residual) that an
adapter must declare; the output is then no longer bounded by |x|.
Visible: at every size and dtype (any non-zero input).
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        return x * torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return x + self.spatial_attention(self.channel_attention(x))


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
