"""ECA whose output lives on the `meta` device (shape and dtype right, no data at all).

Misbehaviour: wrong output device. A meta tensor has the right shape and dtype, so a harness that
only checks those is fooled; comparing values (`torch.allclose`, `.item()`, `.cpu()`) raises. The
device clause must fail and every value clause must fail cleanly with the device in the message.
"""

import math

import torch
from torch import nn

EXPECT = {"eca": "fail"}


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        t = int(abs((math.log2(in_channel) + b) / gamma))
        k = t if t % 2 else t + 1
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.avg_pool(x).flatten(1).unsqueeze(1)
        gate = self.sigmoid(self.conv(squeezed)).squeeze(1)
        return (x * gate[:, :, None, None]).to("meta")


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
