"""SE whose forward asks for a 1 PiB scratch tensor (`torch.empty(2**50, dtype=torch.uint8)`).

Misbehaviour: an allocation no machine can satisfy (1 PiB is beyond the 128 TiB user address space of
x86-64 and the 256 TiB of arm64, so it fails even with memory overcommit). torch raises
RuntimeError ("DefaultCPUAllocator: can't allocate memory ..."); the clause must fail with that
message. Nothing is touched, so this never endangers the machine.
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
        scratch = torch.empty(2**50, dtype=torch.uint8, device=x.device)
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate + scratch[:1].float() * 0


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
