"""SE whose forward returns a tuple `(output, gate)` instead of a tensor.

Misbehaviour: a wrong return type (some libraries return the attention map alongside the output).
The output inside the tuple is correct; the contract (the plug-in contract) asks for a tensor, so every clause
that uses the result must fail with a message naming the type, never crash on `tuple.shape`.
"""

import torch
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

    def forward(self, x: torch.Tensor):
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate, gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
