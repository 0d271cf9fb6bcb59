"""Correct global context block written with Linear layers on a channels-last view of the pixels.

The 1x1 convolutions become nn.Linear over the last dimension (the canonical [out, in, 1, 1]
kernels, reshaped by the registration-order transfer), the pixels are a [B, H W, C] matrix, the
context an einsum of the softmax weights with it, and the LayerNorm is nn.LayerNorm(P) over the P
hidden values, with a [P] weight and bias (the canonical [P, 1, 1], reshaped). Must be accepted.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"global_context": "pass"}


class GlobalContext(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        planes = int(in_channel * ratio)
        self.mask = nn.Linear(in_channel, 1)
        self.down = nn.Linear(in_channel, planes)
        self.norm = nn.LayerNorm(planes)
        self.up = nn.Linear(planes, in_channel)

    def forward(self, x):
        pixels = x.flatten(2).transpose(1, 2)  # [B, H W, C]
        weights = torch.softmax(self.mask(pixels), dim=1)  # [B, H W, 1]
        context = torch.einsum("bpc,bpo->bc", pixels, weights)  # [B, C]
        return x + self.up(F.relu(self.norm(self.down(context))))[:, :, None, None]


def global_context(*, in_channel, ratio):
    return GlobalContext(in_channel, ratio)
