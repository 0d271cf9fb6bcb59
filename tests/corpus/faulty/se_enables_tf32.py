"""SE whose forward switches TF32 on for cuDNN and float32 matmuls, and leaves it on.

Misbehaviour: a change of torch's global precision settings, which silently changes every later
float32 convolution and matmul of the program (and would let the block certify itself under a
looser precision than the harness set). The harness sets and restores these settings around every
clause; a forward that changes them fails with the setting named.
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
        torch.backends.cudnn.allow_tf32 = True
        torch.set_float32_matmul_precision("high")
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
