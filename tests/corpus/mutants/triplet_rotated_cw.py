"""Triplet attention whose cw branch rotates the tensor, as the paper's text describes, instead of transposing it.

Broken: a 90-degree rotation is a transpose and a reversal of one axis: reversing C before the convolution (and back after) convolves with the kernel flipped along C; the authors' code transposes only, and the spec follows the code.
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
        gate_cw = self.cw(x.permute(0, 2, 1, 3).flip(2)).flip(2).permute(0, 2, 1, 3)
        gate_hc = self.hc(x.permute(0, 3, 2, 1)).permute(0, 3, 2, 1)
        return x * ((gate_cw + gate_hc + self.hw(x)) / 3)


def triplet_attention(*, kernel_size):
    return TripletAttention(kernel_size)
