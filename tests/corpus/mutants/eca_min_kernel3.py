"""ECA clamping the adaptive kernel to at least 3 (timm's EcaModule) on the plain spec.

Broken: k = max(odd(t), 3).
Why wrong: documents §2.2: the kernel is exactly the adaptive odd size; for small C that is 1
(C = 1..7 at b = 1, gamma = 2). The clamp is a spec *variant* (eca.kernel_min) that an adapter must
declare.
Visible: only where the formula gives k = 1: small channel counts (C < 8 at the defaults) or large
gamma / negative b. At C = 32 (the documents' size) it is exact. Kernel size = parameter count,
so param count and weight transfer fail there.
"""

import math

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = max(t if t % 2 else t + 1, 3)
        self.conv = nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3)).unsqueeze(1)
        return x * torch.sigmoid(self.conv(y)).transpose(1, 2).unsqueeze(-1)


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
