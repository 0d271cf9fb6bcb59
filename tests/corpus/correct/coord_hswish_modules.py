"""Correct coordinate attention in the authors' style: h-sigmoid / h-swish modules with an in-place
ReLU6 on a fresh tensor (x + 3), pools by AdaptiveAvgPool2d, the gates multiplied in the other order
(x * a_h * a_w). In-place work on intermediates is fine; only the input must stay untouched.
Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"coord_attention": "pass"}


class HardSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.relu6 = nn.ReLU6(inplace=True)

    def forward(self, x):
        return self.relu6(x + 3) / 6


class HardSwish(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = HardSigmoid()

    def forward(self, x):
        return x * self.gate(x)


class CoordAtt(nn.Module):
    def __init__(self, channels, reduction):
        super().__init__()
        mip = max(8, channels // reduction)
        self.pool_rows = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_columns = nn.AdaptiveAvgPool2d((1, None))
        self.conv1 = nn.Conv2d(channels, mip, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = HardSwish()
        self.conv_h = nn.Conv2d(mip, channels, kernel_size=1)
        self.conv_w = nn.Conv2d(mip, channels, kernel_size=1)

    def forward(self, x):
        h, w = x.shape[2:]
        y = torch.cat([self.pool_rows(x), self.pool_columns(x).permute(0, 1, 3, 2)], dim=2)
        y = self.act(self.bn1(self.conv1(y)))
        y_h, y_w = y.split([h, w], dim=2)
        a_h = torch.sigmoid(self.conv_h(y_h))
        a_w = torch.sigmoid(self.conv_w(y_w.permute(0, 1, 3, 2)))
        return x * a_h * a_w


def coord_attention(*, in_channel, reduction):
    return CoordAtt(in_channel, reduction)
