"""An adapter that raises while being imported (a RuntimeError at module level, after defining `se`).

Misbehaviour: import-time failure. Nothing can be certified; `attncert certify` must exit with
status 2 and a one-line message naming the file and the error (no traceback unless --debug).
"""

import torch
from torch import nn

# Expected exit status of `attncert certify tests/corpus/faulty/import_error.py`: 2 (import error).
EXPECT_EXIT = 2


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
        return x * gate


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)


raise RuntimeError("import_error.py: this adapter fails while being imported")
