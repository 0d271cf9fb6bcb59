"""Correct blocks that register their weights directly as nn.Parameter and compute with einsum.

No nn.Linear / nn.Conv layers at all: SE and the channel attention use einsum with [hidden, C] and
[C, hidden] matrices; ECA builds its channel mixing from shifted slices of the zero-padded pooled
vector; spatial attention calls F.conv2d on its own [1, 2, k, k] parameter. CBAM holds the two
stages as attributes in canonical order.
Must be accepted: same functions as the documents' blocks.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"se": "pass", "eca": "pass", "channel_attention": "pass", "spatial_attention": "pass", "cbam": "pass"}


def _uniform(*shape, fan_in):
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        hidden = in_channel // ratio
        self.w1 = _uniform(hidden, in_channel, fan_in=in_channel)
        self.w2 = _uniform(in_channel, hidden, fan_in=hidden)

    def forward(self, x):
        s = torch.einsum("bchw->bc", x) / (x.shape[2] * x.shape[3])
        z = torch.einsum("hc,bc->bh", self.w1, s).clamp_min(0)
        g = torch.sigmoid(torch.einsum("ch,bh->bc", self.w2, z))
        return torch.einsum("bchw,bc->bchw", x, g)


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        self.k = t if t % 2 else t + 1
        self.w = _uniform(self.k, fan_in=self.k)

    def forward(self, x):
        c, k = x.shape[1], self.k
        s = x.mean(dim=(2, 3))
        padded = F.pad(s, (k // 2, k // 2))
        logits = sum(self.w[i] * padded[:, i:i + c] for i in range(k))
        return x * torch.sigmoid(logits)[:, :, None, None]


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        hidden = in_channel // ratio
        self.w1 = _uniform(hidden, in_channel, fan_in=in_channel)
        self.w2 = _uniform(in_channel, hidden, fan_in=hidden)

    def forward(self, x):
        pooled = torch.stack([x.amax(dim=(2, 3)), x.mean(dim=(2, 3))])  # [2, B, C]
        z = torch.einsum("hc,pbc->pbh", self.w1, pooled).relu()
        logits = torch.einsum("ch,pbh->bc", self.w2, z)  # sums the two pools
        return x * torch.sigmoid(logits)[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = _uniform(1, 2, kernel_size, kernel_size, fan_in=2 * kernel_size ** 2)

    def forward(self, x):
        maps = torch.stack([x.amax(dim=1), x.mean(dim=1)], dim=1)
        k = self.weight.shape[-1]
        return x * torch.sigmoid(F.conv2d(maps, self.weight, padding=k // 2))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.ca = ChannelAttention(in_channel, ratio)
        self.sa = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.sa(self.ca(x))


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
