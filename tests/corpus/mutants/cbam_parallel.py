"""CBAM computing both gates from the input in parallel (x * channel_gate(x) * spatial_gate(x)).

Broken: the spatial gate is computed from the raw input instead of from the channel-refined map
("the two gates are independent, compute them in parallel"). The stages themselves are correct
and provided (they must pass).
Why wrong: documents §3.4: "将通道权重和输入特征图相乘再送入空间注意力机制" -- the spatial attention's
max/mean maps are taken over x * channel_gate, in sequence (spec: cbam stages, composition).
Visible: at every size with random input and weights, C = 1 included (the max/mean over channels
of x * g differ from those of x).
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail", "channel_attention": "pass", "spatial_attention": "pass"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def gate(self, x):
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        return torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))[:, :, None, None]

    def forward(self, x):
        return x * self.gate(x)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def gate(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x):
        return x * self.gate(x)


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return x * self.channel_attention.gate(x) * self.spatial_attention.gate(x)


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
