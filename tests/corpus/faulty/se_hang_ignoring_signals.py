"""SE whose forward ignores SIGTERM and SIGINT, then spins forever.

Misbehaviour: a hang that a polite shutdown cannot end: `terminate()` (SIGTERM) and Ctrl-C (SIGINT)
are both ignored, and the loop never returns to Python code that could check a flag. Only SIGKILL
ends it. The harness must escalate to kill, report the clause as timed out, and go on.
(When the module is used in the main thread of the harness's own process this would also make
Ctrl-C useless there: one more reason the implementation runs in a child process.)
"""

import signal

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
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        while True:
            pass


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
