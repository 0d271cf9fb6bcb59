"""CBAM applying spatial attention first and channel attention second.

Broken: forward is channel_attention(spatial_attention(x)). The two stages are correct on their own
(the file provides them, and they must pass); only their order in CBAM is reversed.
Why wrong: documents §3.1 "实现从通道到空间的顺序注意力结构" and §3.4: "输入特征图先经过通道注意力机制 ...
再送入空间注意力机制" -- channel first, then spatial (spec invariant composition, stages order).
Visible: at every size with random input and weights (the spatial gate then sees the raw input
rather than the channel-refined one, and vice versa).
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail", "channel_attention": "pass", "spatial_attention": "pass"}


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
        return self.channel_attention(self.spatial_attention(x))


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
