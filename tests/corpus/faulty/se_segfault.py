"""SE whose forward dereferences a null pointer (`ctypes.string_at(0)`): the process dies with
SIGSEGV. The same file provides a correct CBAM spatial attention.

Misbehaviour: a hard crash of the child process (as a buggy C extension would cause). The harness
must report the SE clause as failed ("killed by signal SIGSEGV"), keep going, and still certify
spatial_attention, which passes. (Python's faulthandler, if enabled, prints a traceback to stderr
first; the exit is still by signal 11.)
"""

import ctypes

import torch
from torch import nn

EXPECT = {"se": "fail", "spatial_attention": "pass"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ctypes.string_at(0)
        raise AssertionError("unreachable: reading address 0 did not crash")


class SpatialAttention(nn.Module):
    """Correct: [max, mean] over channels -> k x k conv (padding k // 2, no bias) -> sigmoid, times x."""

    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * self.sigmoid(self.conv(pooled))


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
