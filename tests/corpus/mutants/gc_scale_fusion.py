"""Global context block that multiplies by the transform's sigmoid instead of adding it.

Broken: x * sigmoid(T(context)): the authors' channel_mul fusion (timm's default), not their default channel_add, which the spec follows.
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
        weights = self.conv_mask(x).reshape(b, 1, h * w).softmax(dim=2)  # [B, 1, H W]
        context = (x.reshape(b, c, h * w) * weights).sum(dim=2).reshape(b, c, 1, 1)
        return x * torch.sigmoid(self.channel_add_conv(context))


def global_context(*, in_channel, ratio):
    return GlobalContext(in_channel, ratio)
