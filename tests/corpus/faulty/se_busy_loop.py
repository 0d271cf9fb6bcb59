"""SE whose forward spins in `while True: pass`, holding the GIL and a full CPU core.

Misbehaviour: an infinite loop in pure Python. Unlike a sleep, it never releases the GIL, so a
watchdog thread in the same process cannot do anything useful; only killing the child process
works. The harness must time the clause out, report it, and go on.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}
TIMEOUT = 0.3  # seconds per clause: the test is about the timeout, so a short one will do


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        while True:
            pass
        b, c = x.shape[:2]  # unreachable
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
