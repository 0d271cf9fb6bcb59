"""Correct SE, CBAM channel attention and spatial attention written with other primitives:
``clamp_min(0)`` for the ReLU (its gradient at exactly 0 is 1 where relu's is 0), and max pooling by
``torch.max(dim)`` / ``max_pool2d`` (which send a tie's gradient to one element, where ``amax``
splits it). Both differ from the documents' layers only at a kink or a tie, where a gradient is not
defined; the harness must judge gradients only where the block is differentiable. Must be accepted.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"se": "pass", "channel_attention": "pass", "spatial_attention": "pass"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        gate = torch.sigmoid(self.fc2(self.fc1(x.mean(dim=(2, 3))).clamp_min(0)))
        return x * gate[:, :, None, None]


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        def mlp(pooled):
            return self.fc2(self.fc1(pooled).clamp_min(0))

        by_max = F.max_pool2d(x, kernel_size=x.shape[2:]).flatten(1)
        gate = torch.sigmoid(mlp(by_max) + mlp(x.mean(dim=(2, 3))))
        return x * gate[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        by_max, _ = torch.max(x, dim=1, keepdim=True)
        maps = torch.cat([by_max, x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(maps))


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
