"""SE that returns the gate instead of the gated input: shape [B, C, 1, 1] instead of [B, C, H, W].

Misbehaviour: wrong output shape (the multiplication by x is missing). Shape clauses must fail with
both shapes in the message; value comparisons must fail cleanly, not raise on broadcasting.
At H = W = 1 the shape happens to be right, but the values are still wrong.
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
        return self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
