"""Correct global context block with the context as a matrix product, as the authors' code computes it.

The pixels are a [B, 1, C, H W] tensor and the softmax weights (nn.Softmax(dim=2) over the
flattened positions) a [B, 1, H W, 1] column: their matmul is the [B, 1, C, 1] context. reshape
wherever a view would fail on channels_last inputs. The transform is one nn.Sequential (conv,
LayerNorm([P, 1, 1]), in-place ReLU on its own intermediate, conv). Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"global_context": "pass"}


class GlobalContext(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        planes = int(in_channel * ratio)
        self.conv_mask = nn.Conv2d(in_channel, 1, kernel_size=1)
        self.softmax = nn.Softmax(dim=2)
        self.channel_add_conv = nn.Sequential(nn.Conv2d(in_channel, planes, kernel_size=1), nn.LayerNorm([planes, 1, 1]),
                                              nn.ReLU(inplace=True), nn.Conv2d(planes, in_channel, kernel_size=1))

    def forward(self, x):
        b, c, h, w = x.shape
        pixels = x.reshape(b, c, h * w).unsqueeze(1)  # [B, 1, C, H W]
        weights = self.softmax(self.conv_mask(x).reshape(b, 1, h * w)).unsqueeze(-1)  # [B, 1, H W, 1]
        context = torch.matmul(pixels, weights).reshape(b, c, 1, 1)
        return x + self.channel_add_conv(context)


def global_context(*, in_channel, ratio):
    return GlobalContext(in_channel, ratio)
