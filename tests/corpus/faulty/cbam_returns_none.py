"""CBAM whose forward returns None (the classic forgotten `return`).

Misbehaviour: both stages run correctly, but the result is dropped. Every clause that uses the
output must fail with a message saying None was returned, never crash on `None.shape`.
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def mlp(self, pooled):
        return self.fc2(self.relu(self.fc1(pooled.flatten(1))))

    def forward(self, x):
        gate = self.sigmoid(self.mlp(self.max_pool(x)) + self.mlp(self.avg_pool(x)))
        return x * gate[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * self.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        out = self.spatial_attention(self.channel_attention(x))  # noqa: F841 - the fault: never returned


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
