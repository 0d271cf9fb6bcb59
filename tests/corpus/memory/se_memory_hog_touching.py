"""SE whose forward fills 256 MiB blocks, one after another, keeping them all, up to 64 GiB.

Misbehaviour: runaway memory that the allocator grants piece by piece (no single allocation is
refused, unlike one 64 GiB request), so only a guard on the memory really used stops it before the
machine runs out. The harness must kill the process at its memory limit and fail the clause with
that reason, then go on.

DANGER: never run this without attncert's memory limit on a machine with less than ~70 GiB free.
"""

import torch
from torch import nn

CHUNK = 256 << 20


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hoard = [torch.ones(CHUNK, dtype=torch.uint8) for _ in range((64 << 30) // CHUNK)]  # every page touched
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None] * hoard[-1][0]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
