"""Triplet attention that sums its three gates instead of averaging them.

Broken: x * (g_cw + g_hc + g_hw): the gate reaches 3, so the output is no longer x times a weight in [0, 1] (the authors average: 1/3 (...)).
"""

import torch
from torch import nn

EXPECT = {"triplet_attention": "fail"}


class Gate(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, t):
        pooled = torch.cat([t.amax(dim=1, keepdim=True), t.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.bn(self.conv(pooled)))


class TripletAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.cw = Gate(kernel_size)
        self.hc = Gate(kernel_size)
        self.hw = Gate(kernel_size)

    def forward(self, x):
        gate_cw = self.cw(x.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
        gate_hc = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        return x * (gate_cw + gate_hc + self.hw(x))


def triplet_attention(*, kernel_size):
    return TripletAttention(kernel_size)
