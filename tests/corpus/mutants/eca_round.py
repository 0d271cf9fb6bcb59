"""ECA rounding (log2 C + b) / gamma to the nearest integer instead of truncating it.

Broken: t = round(abs((log2 C + b) / gamma)) (Python's round-half-even).
Why wrong: documents §2.2: int(...) -- truncation toward zero; the spec: "the odd number at or
above |(log2 C + b)/gamma|, truncated".
Visible: only where the fractional part is >= 0.5 and rounding crosses an odd/even step: b = 1,
gamma = 2: C = 64..127 gives k = 5 instead of 3 (t = 3.5 -> 4 -> 5), C = 4..7 gives 3 instead of 1;
C = 32 (t = 3 exactly) is exact.
"""

import math

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = round(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
