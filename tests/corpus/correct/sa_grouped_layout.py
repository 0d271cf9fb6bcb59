"""Correct shuffle attention in the authors' layout: chunk, AdaptiveAvgPool2d, nn.GroupNorm and a
channel_shuffle helper that reshapes to [B, 2, C / 2, H, W], permutes and flattens.

Parameters in the authors' order (cweight, cbias, sweight, sbias, then the GroupNorm's), the
pooling as an adaptive average pool of size 1 (the spatial mean), the gates as nn.Sigmoid. The
second half is made contiguous before the GroupNorm: on a channel slice of a channels_last input,
torch 2.13's GroupNorm backward crashes (SIGSEGV) when only its parameters need gradients (the
authors' code does so in training with a frozen input). Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"shuffle_attention": "pass"}


def channel_shuffle(t, groups):
    b, c, h, w = t.shape
    return t.reshape(b, groups, -1, h, w).permute(0, 2, 1, 3, 4).reshape(b, -1, h, w)


class ShuffleAttention(nn.Module):
    def __init__(self, in_channel, groups):
        super().__init__()
        n = in_channel // (2 * groups)
        self.groups = groups
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.cweight = nn.Parameter(torch.zeros(1, n, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, n, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, n, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, n, 1, 1))
        self.gate = nn.Sigmoid()
        self.gn = nn.GroupNorm(n, n)

    def forward(self, x):
        b, c, h, w = x.shape
        x0, x1 = x.reshape(b * self.groups, -1, h, w).chunk(2, dim=1)
        x0 = x0 * self.gate(self.cweight * self.pool(x0) + self.cbias)
        x1 = x1 * self.gate(self.sweight * self.gn(x1.contiguous()) + self.sbias)
        return channel_shuffle(torch.cat([x0, x1], dim=1).reshape(b, -1, h, w), 2)


def shuffle_attention(*, in_channel, groups):
    return ShuffleAttention(in_channel, groups)
