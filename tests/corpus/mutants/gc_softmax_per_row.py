"""Global context block whose softmax runs along each row of pixels only.

Broken: softmax over W within every row (dim=-1 of [B, 1, H, W]), so each row's weights sum to 1 and the context adds H rows' means: the authors' softmax is over all H W positions at once.
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
        weights = self.conv_mask(x).softmax(dim=3).reshape(b, 1, h * w)  # [B, 1, H W]
        context = (x.reshape(b, c, h * w) * weights).sum(dim=2).reshape(b, c, 1, 1)
        return x + self.channel_add_conv(context)


def global_context(*, in_channel, ratio):
    return GlobalContext(in_channel, ratio)
