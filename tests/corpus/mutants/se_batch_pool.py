"""SE whose squeeze averages over the batch as well as over space.

Broken: pooled = x.mean(dim=(0, 2, 3)) -- one gate for the whole batch (a "statistics" shortcut
copied from a BatchNorm-style layer), broadcast back to every sample.
Why wrong: documents §1.1 (1): each sample's [h, w, c] map is squeezed to its own [1, 1, c]; the
block is per sample (spec invariant batch_independent).
Visible: only when B > 1 and the samples differ. With B = 1 it is exact -- a harness testing a
single sample misses it.
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
        pooled = x.mean(dim=(0, 2, 3), keepdim=False)[None, :]  # [1, C]
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(pooled))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
