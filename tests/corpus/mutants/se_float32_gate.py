"""SE that always computes its gate in float32 ("the gate does not need double precision").

Broken: pooled vector and weights are cast to float32 for the MLP; the float32 gate then
multiplies the input (type promotion keeps the output's dtype float64).
Why wrong: attncert's requirements: outputs must equal the float64 oracle's within a float64 error budget; the
documents' block computes everything in the input's dtype.
Visible: only for float64 inputs (errors ~1e-8, far beyond a float64 budget); for float32 inputs it
is exact. Gradients w.r.t. float64 parameters are also only float32-accurate.
"""

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        pooled = x.mean(dim=(2, 3)).float()
        hidden = F.relu(F.linear(pooled, self.fc1.weight.float()))
        gate = torch.sigmoid(F.linear(hidden, self.fc2.weight.float()))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
