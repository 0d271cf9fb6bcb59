"""SE whose forward works in float32 but raises in float64.

Misbehaviour: the first layer is applied with its weight cast to float32 (`self.fc1.weight.float()`,
as code written for mixed precision might). For float32 input everything is correct; for float64
input (with the module in float64 too) `F.linear` raises "expected m1 and m2 to have the same
dtype". A harness that only tests float32 passes it; the float64 clauses must fail.
"""

import torch
import torch.nn.functional as F
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        hidden = F.linear(self.avg_pool(x).flatten(1), self.fc1.weight.float())
        gate = self.sigmoid(self.fc2(self.relu(hidden))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
