"""SE whose forward calls `os._exit(3)`: the process ends at once, no exception, no cleanup, no
flush. The same file provides a correct ECA.

Misbehaviour: the child process running the implementation disappears mid-clause. The harness must
report the SE clause as failed ("the implementation's process exited with status 3"), start a new
child, and still certify ECA, which passes: a crash in one block must not take the others down.
"""

import math
import os

import torch
from torch import nn

EXPECT = {"se": "fail", "eca": "pass"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        os._exit(3)


class ECA(nn.Module):
    """Correct: pool -> Conv1d over channels with k = odd(trunc(|(log2 C + b) / gamma|)) -> sigmoid."""

    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.avg_pool(x).flatten(1).unsqueeze(1)
        gate = self.sigmoid(self.conv(squeezed)).squeeze(1)
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
