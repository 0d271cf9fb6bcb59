"""Global context block whose attention weights are sigmoids, not a softmax over the positions.

Broken: sigmoid of each position's logit: the weights no longer sum to 1, so the context is a sum, not a weighted mean (the paper's softmax over all N_p positions).
"""

import torch
from torch import nn

EXPECT = {"global_context": "fail"}


class GlobalContext(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        planes = int(in_channel * ratio)
        self.conv_mask = nn.Conv2d(in_channel, 1, 1)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(in_channel, planes, 1), nn.LayerNorm([planes, 1, 1]), nn.ReLU(), nn.Conv2d(planes, in_channel, 1))

    def forward(self, x):
        b, c, h, w = x.shape
        weights = self.conv_mask(x).reshape(b, 1, h * w).sigmoid()  # [B, 1, H W]
        context = (x.reshape(b, c, h * w) * weights).sum(dim=2).reshape(b, c, 1, 1)
        return x + self.channel_add_conv(context)


def global_context(*, in_channel, ratio):
    return GlobalContext(in_channel, ratio)
