"""ECA whose factory passes b and gamma to the class in the wrong (positional) order.

Broken: the class is ECA(in_channel, b=1, gamma=2) but the factory calls ECA(in_channel, gamma, b),
so the kernel is odd(|(log2 C + gamma) / b|) (ZeroDivisionError at b = 0, negative b flips sign).
Why wrong: documents §2.2: kernel_size = int(abs((log2(in_channel) + b) / gama)) with b = 1,
gama = 2 as the two coefficients of the formula.
Visible: whenever b != gamma changes the kernel: at the defaults b = 1, gamma = 2 already
(C = 32: k = 7 instead of 3); invisible only when b == gamma. Shows up as the wrong kernel size
(parameter count), or as an exception at b = 0.
"""

import math

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b=1, gamma=2):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3)).unsqueeze(1)
        return x * torch.sigmoid(self.conv(y)).squeeze(1)[:, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, gamma, b)
