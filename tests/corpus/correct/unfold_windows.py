"""Correct blocks computed with explicit sliding windows (F.unfold / Tensor.unfold) and reductions.

Spatial attention: F.unfold of the zero-padded [max, mean] maps into k*k windows, dotted with the
flattened [1, 2, k, k] weight. ECA: the zero-padded pooled vector unfolded into windows of k
channels, dotted with the [1, 1, k] weight. SE and the channel attention pool with
torch.amax / sum-divided-by-count and never reshape the input.
Must be accepted.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        s = x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s)))).unsqueeze(-1).unsqueeze(-1)


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t + 1 - t % 2
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        w = self.conv.weight.reshape(-1)
        k = w.numel()
        s = F.pad(x.mean(dim=(2, 3)), (k // 2, k // 2))          # [B, C + k - 1]
        windows = s.unfold(1, k, 1)                              # [B, C, k]
        return x * torch.sigmoid(windows @ w)[:, :, None, None]


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        both = torch.stack([torch.amax(x, dim=(2, 3)), x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])])
        logits = self.fc2(torch.relu(self.fc1(both))).sum(0)
        return x * torch.sigmoid(logits).unsqueeze(-1).unsqueeze(-1)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        b, _, h, w = x.shape
        k = self.conv.weight.shape[-1]
        maps = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        cols = F.unfold(maps, k, padding=k // 2)                 # [B, 2*k*k, H*W]
        logits = torch.einsum("p,bpl->bl", self.conv.weight.reshape(-1), cols)
        return x * torch.sigmoid(logits).reshape(b, 1, h, w)


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
