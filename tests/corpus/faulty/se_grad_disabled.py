"""SE whose forward calls `torch.set_grad_enabled(False)` as a plain call (not a context manager)
and never turns it back on.

Misbehaviour: global autograd switched off. The output values are right but carry no grad_fn, so
input and parameter gradients do not exist; and every later computation in the process (the
oracle's gradients included) silently stops recording. The gradient clauses must fail, and the
harness must restore grad mode (or use a fresh process) before anything else runs.
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
        torch.set_grad_enabled(False)
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
