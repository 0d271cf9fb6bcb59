"""ECA computing the adaptive kernel with the natural logarithm instead of log2.

Broken: t = int(|(ln C + b) / gamma|) -- math.log(C) without the base argument.
Why wrong: documents §2.1/§2.2: kernel_size = int(abs((math.log(in_channel, 2) + b) / gama)) --
base 2, as in the ECA paper's psi(C) = |log2(C)/gamma + b/gamma|_odd.
Visible: only at channel counts where the two logs land on different odd kernels: e.g. b = 1,
gamma = 2: C = 8..20 gives k = 1 instead of 3, C = 128..1096 gives 3 instead of 5; for C = 21..127
(C = 32 and 64, the usual test sizes, included) both give k = 3 and the mutant is exact.
"""

import math

from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.avg_pool(x).view(b, 1, c)
        y = self.sigmoid(self.conv(y))
        return x * y.view(b, c, 1, 1)


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
