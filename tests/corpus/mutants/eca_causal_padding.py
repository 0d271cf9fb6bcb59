"""ECA with all of the padding on the left (a "causal" 1D convolution).

Broken: F.pad(y, (k - 1, 0)) then an unpadded convolution: channel j's gate sees channels
j - k + 1 .. j instead of j - k//2 .. j + k//2. The length stays C, so nothing crashes.
Why wrong: documents §2.2: padding = kernel_size // 2 on both sides ("为了保证卷积前后的size不变"),
i.e. a centred window; the spec's kernel_size invariant (window of radius k // 2) says the same.
Visible: whenever k >= 3 (b = 1, gamma = 2: C >= 8) -- every gate is shifted by k // 2 channels;
exact when k = 1.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        self.k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, self.k, padding=0, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        y = self.conv(F.pad(y, (self.k - 1, 0)))
        return x * torch.sigmoid(y)[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
