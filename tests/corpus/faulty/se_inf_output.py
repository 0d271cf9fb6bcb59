"""SE with +inf in exactly one output element (index [0, 0, 0, 0]).

Misbehaviour: an infinite value in an otherwise correct output. `inf - inf` is NaN, so an error
measure can turn into NaN and compare as "not greater than the tolerance". Every value clause must
fail with a message that mentions the non-finite value.
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
        out = x * gate
        poison = torch.zeros_like(out)
        poison[0, 0, 0, 0] = float("inf")
        return out + poison


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
