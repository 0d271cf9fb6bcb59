"""ECA with a fixed kernel of 3 ("the adaptive formula gives 3 anyway").

Broken: Conv1d(1, 1, 3, padding=1) whatever C, b and gamma are; b and gamma are accepted and
ignored.
Why wrong: documents §2.1: "卷积核的大小通过一个函数来自适应变化,使得通道数较大的层可以更多地进行跨通道交互" --
the kernel adapts to C. A fixed kernel is a spec *variant* (eca.fixed_kernel), to be declared.
Visible: only where the formula does not give 3: C < 8 and C >= 128 at b = 1, gamma = 2 (large
channel counts: C = 128 -> 5, C = 2048 -> 7), or other b / gamma. At C = 8..127 -- every size a
lazy harness tries -- it is exact.
"""

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x):
        y = x.mean(dim=(2, 3))[:, None, :]
        return x * torch.sigmoid(self.conv(y))[:, 0, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
