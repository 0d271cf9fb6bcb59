"""ECA normalising with hard-sigmoid (MobileNetV3 style) instead of sigmoid.

Broken: gate = hardsigmoid(conv(y)) = clamp(z / 6 + 1/2, 0, 1).
Why wrong: documents §2.2: self.sigmoid = nn.Sigmoid() -- "权值归一化". Hard-sigmoid is only a
piecewise-linear approximation (off by up to ~0.05).
Visible: at practically every size (any logit z != 0), every dtype.
"""

import math

from torch import nn
import torch.nn.functional as F

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * F.hardsigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
