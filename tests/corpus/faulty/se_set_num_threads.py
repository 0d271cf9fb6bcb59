"""SE whose forward calls `torch.set_num_threads(1)` (or `torch.set_num_threads(3)` when the process
already runs one thread, so that the call really changes the setting wherever it runs: a harness
that pins itself to one thread would otherwise see no change at all).

Misbehaviour: global torch state changed in forward. The output is correct; the side effect changes
the speed (and, for some reductions, the summation order) of every later computation in the process,
the oracle's included. The harness must detect the change of `torch.get_num_threads()` across the
call and fail the block.
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
        torch.set_num_threads(1 if torch.get_num_threads() != 1 else 3)
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
