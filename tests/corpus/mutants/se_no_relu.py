"""SE without the ReLU between the two fully connected layers.

Broken: the excitation is fc2(fc1(pooled)) -- the ReLU after fc1 was dropped, so the two layers
collapse into one linear map C -> C of rank C // ratio.
Why wrong: documents §1.1 (2) and §1.2: fc1 -> ReLU -> fc2 -> sigmoid; the post stresses that two
layers give "more non-linearity" than one, which only holds with the ReLU in between.
Visible: whenever some hidden unit fc1(pooled) is negative -- with random weights, at practically
every size, dtype and memory format.
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
        pooled = x.mean(dim=(2, 3))
        gate = torch.sigmoid(self.fc2(self.fc1(pooled)))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
