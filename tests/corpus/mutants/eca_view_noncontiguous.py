"""ECA squeezing with x.view(b, c, -1).mean(-1), which needs a view-compatible input.

Broken: `.view` instead of `.reshape`/AdaptiveAvgPool2d for the squeeze. It works whenever the H
and W dimensions can be merged without a copy -- contiguous and channels_last inputs, and even a
step slice along W such as x[..., ::2] -- but raises "view size is not compatible with input
tensor's size and stride" for inputs where they cannot, e.g. a transpose (x.transpose(2, 3)) or a
step slice along H (x[:, :, ::2]).
Why wrong: the documents' block (AdaptiveAvgPool2d, §2.2) accepts any [b, c, h, w] tensor; attncert's requirements
requires contiguous, channels_last AND non-contiguous inputs to work.
Visible: only for such non-contiguous inputs (transposed or H-sliced) with H > 1 and W > 1; exact
otherwise -- a harness whose only non-contiguous input is x[..., ::2] misses it.
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
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        y = x.view(b, c, -1).mean(-1).view(b, 1, c)
        return x * torch.sigmoid(self.conv(y)).view(b, c, 1, 1)


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
