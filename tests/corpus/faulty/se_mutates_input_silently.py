"""SE that overwrites its input through `x.data` after computing a correct output.

Misbehaviour: input mutation that autograd cannot see. `x.data` shares storage with `x` but not its
version counter, so no "leaf Variable ... in-place" error is raised even when `x` requires grad, and
backward still works (the output was computed from a clone). Output values and all gradients are
correct; only the caller's input has changed (to `x * gate`). The no-mutation clause must compare
the input's values before and after the call, with and without requires_grad; and an oracle computed
from the input *after* the call would see the wrong input.
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
        out = x.clone() * gate
        x.data.mul_(gate.detach())
        return out


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
