"""SE whose hidden width is ceil(C / ratio) instead of C // ratio.

Broken: fc1 maps C -> ceil(C / ratio) ("never lose a channel to rounding").
Why wrong: documents §1.2: nn.Linear(in_channel, in_channel // ratio) -- floor division. The
parameter count 2 * C * (C // ratio) (512 at C = 32, ratio = 4) and the canonical weight shapes
follow from it.
Visible: only when C is not a multiple of ratio (e.g. C = 7, ratio = 4: hidden 2 instead of 1;
param count 28 instead of 14). At C = 32, ratio = 4 -- the documents' size -- it is exact.
This mutant is precisely about the parameters: it fails the param-count clause and its weights
cannot be transferred (element counts disagree).
"""

import math

import torch
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        hidden = math.ceil(in_channel / ratio)
        self.fc1 = nn.Linear(in_channel, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, in_channel, bias=False)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
