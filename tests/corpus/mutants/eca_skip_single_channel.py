"""ECA that returns the input unchanged when there is a single channel.

Broken: `if c == 1: return x` ("no cross-channel interaction is possible with one channel").
Why wrong: documents §2.1 (1)-(4): the block always multiplies the input by sigmoid(conv(pool(x)));
at C = 1 the kernel is 1 (b = 1, gamma = 2) and the gate sigmoid(w * mean) is not 1. The spec
allows in_channel = 1.
Visible: only at C = 1; exact for every C > 1.
"""

import math

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        if x.shape[1] == 1:
            return x.clone()
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
