"""ECA with stochastic depth: in train mode the whole attention is skipped with probability 0.3.

Broken: `if self.training and torch.rand(()) < 0.3: return x` (drop-path regularisation bolted on).
Why wrong: documents §2: the block is a fixed function of its input; there is no dropout or
training-only behaviour, so train and eval must agree and the block must be deterministic.
Visible: only in train mode (and only on the calls where the coin says skip: about 3 in 10, so a
check needs a few train-mode calls); eval mode is exact.
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
        self.drop_prob = 0.3

    def forward(self, x):
        if self.training and torch.rand(()) < self.drop_prob:
            return x.clone()
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
