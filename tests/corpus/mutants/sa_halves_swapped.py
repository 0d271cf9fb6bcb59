"""Shuffle attention that gates the first half per pixel and the second per channel.

Broken: the channel gate (spatial mean) goes to the second half of each group and the GroupNorm gate to the first: the authors' x_0 gets the channel attention.
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
        second = second * torch.sigmoid(self.cweight * second.mean(dim=(2, 3), keepdim=True) + self.cbias)
        first = first * torch.sigmoid(self.sweight * self.gn(first) + self.sbias)
        out = torch.cat([first, second], dim=1).reshape(b, c, h, w)
        return out.reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


def shuffle_attention(*, in_channel, groups):
    return ShuffleAttention(in_channel, groups)
