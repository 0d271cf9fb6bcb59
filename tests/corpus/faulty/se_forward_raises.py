"""SE whose forward raises: construction works, every call of the module raises ValueError.

Misbehaviour: an exception from inside forward (here after the pooling, as a shape check gone wrong
would). Every clause that runs the module must fail with the exception's message.
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
        squeezed = self.avg_pool(x).flatten(1)
        raise ValueError(f"se_forward_raises: deliberately failing on input of shape {tuple(x.shape)} ({squeezed.shape[1]} channels)")


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
