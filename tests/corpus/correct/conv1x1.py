"""Correct SE, ECA, CBAM written with convolutions only: 1x1 Conv2d instead of Linear.

The MLPs are Conv2d(C, C // ratio, 1) and Conv2d(C // ratio, C, 1) applied to the [B, C, 1, 1]
pooled maps (weights [C//ratio, C, 1, 1] -- the same elements as the canonical [C//ratio, C], so
registration-order transfer reshapes them). ECA is a Conv2d(1, 1, (1, k)) sliding over the
channel axis of a [B, 1, 1, C] map (weight [1, 1, 1, k] ~ canonical [1, 1, k]).
Must be accepted: same functions as the documents' blocks (§1.2, §2.2, §3.2-3.4).
"""

import math

import torch
from torch import nn

EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.reduce = nn.Conv2d(in_channel, in_channel // ratio, 1, bias=False)
        self.expand = nn.Conv2d(in_channel // ratio, in_channel, 1, bias=False)

    def forward(self, x):
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(torch.relu(self.reduce(s))))


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.conv = nn.Conv2d(1, 1, (1, k), padding=(0, k // 2), bias=False)

    def forward(self, x):
        b, c = x.shape[:2]
        s = x.mean(dim=(2, 3)).reshape(b, 1, 1, c)
        gate = torch.sigmoid(self.conv(s)).reshape(b, c, 1, 1)
        return x * gate


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.reduce = nn.Conv2d(in_channel, in_channel // ratio, 1, bias=False)
        self.expand = nn.Conv2d(in_channel // ratio, in_channel, 1, bias=False)

    def forward(self, x):
        def mlp(s):
            return self.expand(torch.relu(self.reduce(s)))

        by_max = mlp(x.amax(dim=(2, 3), keepdim=True))
        by_avg = mlp(x.mean(dim=(2, 3), keepdim=True))
        return x * torch.sigmoid(by_max + by_avg)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        maps = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(maps))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel = ChannelAttention(in_channel, ratio)
        self.spatial = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial(self.channel(x))


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
