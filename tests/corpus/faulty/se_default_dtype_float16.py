"""SE whose factory leaves `torch.set_default_dtype(torch.float16)` behind.

Misbehaviour: global torch state changed in the factory, after the layers are built (so the module
itself is float32 and computes correctly). Every tensor the harness creates afterwards without an
explicit dtype (`torch.randn`, `torch.zeros`, `torch.tensor([1.0])`) becomes float16. The harness
must notice the change (compare global state before and after each call), fail the block, and
restore or discard the state so later clauses and blocks are not poisoned.
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
        return x * gate


def se(*, in_channel, ratio):
    module = SE(in_channel, ratio)
    torch.set_default_dtype(torch.float16)
    return module
