"""ECA padding the channel sequence circularly (timm's CecaModule) on the plain spec.

Broken: Conv1d(..., padding_mode="circular") -- the first channel sees the last ones and vice
versa.
Why wrong: documents §2.2: nn.Conv1d(..., padding=kernel_size // 2) with the default zero padding
("0填充"); circular padding is a spec *variant* (eca.padding_mode) an adapter must declare.
Visible: only when k >= 3, and only in the gates of the first and last k // 2 channels (b = 1,
gamma = 2: C >= 8). With k = 1 (C < 8 at the defaults) there is no padding and it is exact.
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
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, padding_mode="circular", bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
