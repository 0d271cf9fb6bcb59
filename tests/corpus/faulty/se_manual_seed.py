"""SE whose forward calls `torch.manual_seed(0)`.

Misbehaviour: global RNG state reset in forward. The output is correct, but every random number the
process draws afterwards (random weights, random inputs, dropout) restarts from seed 0, so a
harness that draws its cases from the global generator keeps testing the same case. The harness
must detect the change of `torch.get_rng_state()` (and the CUDA generators) across the call, fail
the block, and not let it shape later cases.
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
        torch.manual_seed(0)
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
