"""ECA computing a true convolution (kernel flipped) instead of PyTorch's cross-correlation.

Broken: the channel mixing is written by hand with np.convolve semantics: gate_j = sum_i
w[k-1-i] * y[j - k//2 + i] (the weight is reversed relative to nn.Conv1d).
Why wrong: documents §2.2: nn.Conv1d(1, 1, kernel_size, padding=k//2), which is a
cross-correlation: gate_j = sum_i w[i] * y[j - k//2 + i]. With the canonical weight transferred, the
reversed taps give a different gate.
Visible: whenever k >= 3 and the kernel is not symmetric (random weights): b = 1, gamma = 2 and
C >= 8. Exact when k = 1 (C < 8 at the defaults).
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
        k = t if t % 2 else t + 1
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        k = self.conv.weight.shape[-1]
        # "convolution" as in the paper's formula: flip the kernel
        mixed = F.conv1d(y, self.conv.weight.flip(-1), padding=k // 2)
        return x * torch.sigmoid(mixed)[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
