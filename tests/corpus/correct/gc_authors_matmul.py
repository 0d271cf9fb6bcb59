"""Correct global context block in the authors' form (ContextBlock with pooling_type='att' and
fusion_types=('channel_add',)): the softmax over the flattened positions as a [B, 1, H W, 1]
column, the context as a matrix product of [B, 1, C, H W] with it, nn.Softmax(dim=2) and the
transform as their nn.Sequential. reshape where the authors write view (their view fails on
channels_last inputs). Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"global_context": "pass"}


class ContextBlock(nn.Module):
    def __init__(self, inplanes, ratio, pooling_type="att", fusion_types=("channel_add",)):
        super().__init__()
        self.planes = int(inplanes * ratio)
        self.pooling_type = pooling_type
        self.conv_mask = nn.Conv2d(inplanes, 1, kernel_size=1)
        self.softmax = nn.Softmax(dim=2)
        self.channel_add_conv = nn.Sequential(
            nn.Conv2d(inplanes, self.planes, kernel_size=1),
            nn.LayerNorm([self.planes, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(self.planes, inplanes, kernel_size=1))

    def spatial_pool(self, x):
        batch, channel, height, width = x.size()
        input_x = x.reshape(batch, channel, height * width).unsqueeze(1)  # [N, 1, C, H W]
        context_mask = self.softmax(self.conv_mask(x).reshape(batch, 1, height * width)).unsqueeze(-1)  # [N, 1, H W, 1]
        return torch.matmul(input_x, context_mask).reshape(batch, channel, 1, 1)

    def forward(self, x):
        return x + self.channel_add_conv(self.spatial_pool(x))


def global_context(*, in_channel, ratio):
    return ContextBlock(in_channel, ratio)
