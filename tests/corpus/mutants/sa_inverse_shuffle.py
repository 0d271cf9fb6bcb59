"""Shuffle attention that shuffles the channels the other way round.

Broken: reshape(b, c // 2, 2, ...) then transpose: output channel j is input channel 2 j mod (C - 1), the inverse of the authors' shuffle (output channel 2 j + i is channel i C / 2 + j); the two agree only for C <= 4.
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
        return out.reshape(b, c // 2, 2, h, w).transpose(1, 2).reshape(b, c, h, w)


def shuffle_attention(*, in_channel, groups):
    return ShuffleAttention(in_channel, groups)
