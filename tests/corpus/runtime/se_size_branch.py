"""SE with a Python branch on the input's size: a single position is taken as it is, larger maps are
averaged. Both branches compute the same values, so the block is right however the artifact was
traced (at [2, C, 5, 3], the averaging branch) and then run (at 1 x 1 too): it passes every runtime.
"""

import torch
from torch import nn

EXPECT = {"se": {"eager": "pass", "compile": "pass", "export": "pass", "onnx": "pass"}}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        if x.shape[2] * x.shape[3] == 1:
            pooled = x.flatten(1)
        else:
            pooled = x.mean(dim=(2, 3))
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio=4):
    return SE(in_channel, ratio)
