"""SE that multiplies the input in place (`x.mul_(gate)`) and returns it.

Misbehaviour: input mutation. The returned values are right, and it even is the same tensor object,
so a harness that compares the output with an oracle computed *after* the call (on the mutated
input) sees agreement. The no-mutation clause must fail. When the input requires grad (a leaf),
the in-place op raises instead; those clauses must fail with that message.
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x.mul_(gate)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
