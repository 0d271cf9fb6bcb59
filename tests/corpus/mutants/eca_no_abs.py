"""ECA computing t = int((log2 C + b) / gamma) without the absolute value.

Broken: the abs() of the formula was dropped ("log2 C + b is always positive"). It is not when b is
negative: the kernel becomes negative and Conv1d raises at construction.
Why wrong: documents §2.2: kernel_size = int(abs((math.log(in_channel, 2) + b) / gama)); the spec
allows b in -4..16.
Visible: only where (log2 C + b) / gamma <= -1, i.e. negative b with log2 C + b <= -gamma (e.g.
C = 1, b = -4, gamma = 1: the formula gives k = 5, the mutant raises; C = 2, b = -3, gamma = 1:
k = 3 vs a crash). Between -1 and 0 int() gives 0 and k = 1, as the formula does; at b >= 0 it is
exact.
"""

import math

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int((math.log2(in_channel) + b) / gamma)
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
