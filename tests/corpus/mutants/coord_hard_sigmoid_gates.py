"""Coordinate attention with hard-sigmoid gates.

Broken: F.hardsigmoid instead of sigmoid for a_h and a_w.
"""

import torch
from torch import nn

EXPECT = {"coord_attention": "fail"}


class CoordinateAttention(nn.Module):
    def __init__(self, in_channel, reduction):
        super().__init__()
        hidden = max(8, in_channel // reduction)
        self.conv1 = nn.Conv2d(in_channel, hidden, 1)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(hidden, in_channel, 1)
        self.conv_w = nn.Conv2d(hidden, in_channel, 1)

    def forward(self, x):
        h = x.shape[2]
        strip = torch.cat([x.mean(3, keepdim=True), x.mean(2, keepdim=True).transpose(2, 3)], dim=2)
        strip = self.act(self.bn1(self.conv1(strip)))
        rows, columns = torch.split(strip, [h, strip.shape[2] - h], dim=2)
        return x * nn.functional.hardsigmoid(self.conv_w(columns.transpose(2, 3))) * nn.functional.hardsigmoid(self.conv_h(rows))


def coord_attention(*, in_channel, reduction):
    return CoordinateAttention(in_channel, reduction)
