"""Shuffle attention without its channel shuffle.

Broken: the halves are joined back but the channels are not shuffled with two groups (the authors' channel_shuffle(out, 2)): every output channel comes from another place.
"""

import torch
from torch import nn

EXPECT = {"shuffle_attention": "fail"}


class ShuffleAttention(nn.Module):
    def __init__(self, in_channel, groups):
        super().__init__()
        half = in_channel // (2 * groups)
        self.groups = groups
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.gn = nn.GroupNorm(half, half)

    def forward(self, x):
        b, c, h, w = x.shape
        rows = x.reshape(b * self.groups, -1, h, w)
        first, second = rows.chunk(2, dim=1)
        first = first * torch.sigmoid(self.cweight * first.mean(dim=(2, 3), keepdim=True) + self.cbias)
        second = second * torch.sigmoid(self.sweight * self.gn(second) + self.sbias)
        out = torch.cat([first, second], dim=1).reshape(b, c, h, w)
        return out


def shuffle_attention(*, in_channel, groups):
    return ShuffleAttention(in_channel, groups)
