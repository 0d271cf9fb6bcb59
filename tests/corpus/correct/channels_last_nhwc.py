"""Correct blocks computed in NHWC order (channels_last-friendly).

The input is viewed as [B, H, W, C] (x.permute(0, 2, 3, 1), a free view for channels_last
tensors), the channel gates are computed with nn.Linear over the last dimension and broadcast
over H, W in NHWC, and the spatial maps are reductions over the last dimension. The result is
permuted back to [B, C, H, W] (its memory format follows the input's).
Must be accepted: same functions as the documents' blocks, for every memory format.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


def nhwc(x):
    return x.permute(0, 2, 3, 1)


def nchw(y):
    return y.permute(0, 3, 1, 2)


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        y = nhwc(x)                                   # [B, H, W, C]
        s = y.mean(dim=(1, 2), keepdim=True)          # [B, 1, 1, C]
        return nchw(y * torch.sigmoid(self.fc2(F.relu(self.fc1(s)))))


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        y = nhwc(x)
        bsz, c = x.shape[0], x.shape[1]
        s = y.mean(dim=(1, 2)).reshape(bsz, 1, c)
        gate = torch.sigmoid(self.conv(s)).reshape(bsz, 1, 1, c)
        return nchw(y * gate)


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        y = nhwc(x)
        def mlp(s):
            return self.fc2(F.relu(self.fc1(s)))

        gate = torch.sigmoid(mlp(y.amax(dim=(1, 2), keepdim=True)) + mlp(y.mean(dim=(1, 2), keepdim=True)))
        return nchw(y * gate)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        y = nhwc(x)
        maps = torch.stack([y.amax(dim=-1), y.mean(dim=-1)], dim=-1)   # [B, H, W, 2]
        gate = torch.sigmoid(self.conv(nchw(maps)))                    # [B, 1, H, W]
        return nchw(y * nhwc(gate))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))


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
