"""SE whose forward sleeps for 10**6 seconds (about 11.5 days) before returning.

Misbehaviour: a hang in a blocking call that releases the GIL (as a dead lock or a network wait
would). The harness must stop it at `--timeout` per clause, report the clause as failed ("timed
out after N s"), kill the child process, and go on with the other clauses and blocks.
"""

import time

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
        time.sleep(10**6)
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
