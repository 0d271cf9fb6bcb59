"""SE with biases in both fully connected layers (torchvision/timm style) on the plain spec.

Broken: nn.Linear(..., bias=True) -- C // ratio + C extra parameters.
Why wrong: documents §1.2: both layers are nn.Linear(..., bias=False), and the torchstat table
counts 512 parameters at C = 32 (2 * 32 * 8), not 552. Biases are a spec *variant* (se.bias) that
an adapter must declare; undeclared, the plain verdict is fail.
Visible: always, in the parameter count (and the weights cannot be transferred in registration
order: four tensors for two canonical ones). Precisely a parameter mutation.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=True)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=True)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
