"""SE that scales the input tensor in place and returns it.

Broken: `return x.mul_(gate)` ("saves an allocation"). The returned values are right, but the
caller's input tensor is overwritten, and autograd refuses the in-place op on a leaf that requires
grad.
Why wrong: documents §1.2: `outputs = x * inputs` -- a new tensor; the block must not mutate its
input (attncert's requirements: no mutation of the input).
Visible: only to a check that compares the input before and after the call (or runs backward on a
leaf input); the output itself equals the oracle's.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x.mul_(gate[:, :, None, None])


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
