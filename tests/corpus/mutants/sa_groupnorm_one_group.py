"""Shuffle attention whose GroupNorm normalises the whole half together.

Broken: nn.GroupNorm(1, half): one mean and variance over all n channels of a half, where the authors' GroupNorm(n, n) normalises each channel over its own pixels.
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
        self.gn = nn.GroupNorm(1, half)

    def forward(self, x):
        b, c, h, w = x.shape
        rows = x.reshape(b * self.groups, -1, h, w)
        first, second = rows.chunk(2, dim=1)
        first = first * torch.sigmoid(self.cweight * first.mean(dim=(2, 3), keepdim=True) + self.cbias)
        second = second * torch.sigmoid(self.sweight * self.gn(second) + self.sbias)
        out = torch.cat([first, second], dim=1).reshape(b, c, h, w)
        return out.reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


def shuffle_attention(*, in_channel, groups):
    return ShuffleAttention(in_channel, groups)
