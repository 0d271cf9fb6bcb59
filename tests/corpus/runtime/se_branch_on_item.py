"""SE that rescales large feature maps before pooling, deciding with a Python branch on a value it
reads from the tensor (.item()). Both branches give the same gate (the rescaling by a power of two
is exact), so eager mode is right.

torch.compile breaks the graph at .item() and runs both branches right. torch.export cannot trace
a branch on data ("Could not guard on data-dependent expression"), so neither it nor the ONNX
exporter can build the artifact.
"""

import torch
from torch import nn

EXPECT = {"se": {"eager": "pass", "compile": "pass", "export": "fail", "onnx": "fail"}}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        if x.abs().amax().item() > 1024.0:
            pooled = (x / 1024.0).mean((2, 3)) * 1024.0
        else:
            pooled = x.mean((2, 3))
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio=4):
    return SE(in_channel, ratio)
