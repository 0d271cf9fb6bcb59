"""SE that runs its MLP in bfloat16 whenever the input is float32 (a hand-rolled "autocast").

Broken: for float32 inputs the pooled vector and both weights are cast to bfloat16 for the two
linear layers and the sigmoid, then the bfloat16 gate goes back to float32. float64 inputs take
the full-precision path.
Why wrong: attncert's requirements: float32 outputs must match the oracle within a float32 error budget; bfloat16
keeps 8 significant bits (relative error ~4e-3), far outside it. The documents' block computes in
the input's dtype.
Visible: only for float32 inputs; a harness that tests float64 alone waves it through.
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
        pooled = x.mean(dim=(2, 3))
        if x.dtype == torch.float32:
            low = torch.bfloat16
            hidden = F.relu(F.linear(pooled.to(low), self.fc1.weight.to(low)))
            gate = torch.sigmoid(F.linear(hidden, self.fc2.weight.to(low))).to(x.dtype)
        else:
            gate = torch.sigmoid(self.fc2(F.relu(self.fc1(pooled))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
