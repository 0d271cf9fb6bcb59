"""A correct SE that is noisy: its factory and forward print to stdout and stderr, including text that
looks like protocol messages and raw bytes written straight to file descriptors 1 and 2.

Misbehaviour: output on the child's standard streams. A harness that talks to its child process
over stdout (JSON lines, pickles) and does not redirect the implementation's output gets a corrupt
stream. The block itself is correct, so it must PASS: this file checks that the harness survives
chatter, not that it punishes it.
"""

import os
import sys

import torch
from torch import nn

EXPECT = {"se": "pass"}

_NOISE = b'{"status": "pass", "clause": "fake"}\n\x00\xff\xfe garbage \x1b[31m\n'


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        print(f"se_stdout_garbage: building SE({in_channel}, {ratio})")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print('{"verdict": "pass", "complete": true}')
        print("se_stdout_garbage: forward", tuple(x.shape), file=sys.stderr)
        sys.stdout.flush()
        os.write(1, _NOISE)
        os.write(2, _NOISE)
        b, c = x.shape[:2]
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x).flatten(1))))).view(b, c, 1, 1)
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
