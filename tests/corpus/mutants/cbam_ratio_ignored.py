"""CBAM that does not pass `ratio` on to its channel attention (which then uses its default 4).

Broken: self.channel_attention = ChannelAttention(in_channel) -- ratio is accepted and dropped.
Why wrong: documents §3.4: channel_attention(in_channel=in_channel, ratio=ratio) -- CBAM's ratio is
the channel attention's reduction; the spec's param count is 2 * C * (C // ratio) + 2 * k * k.
Visible: only when C // ratio != C // 4 (e.g. ratio = 2 or 8 at C = 32; any ratio != 4 at most C);
at the default ratio = 4 -- the documents' setting -- it is exact. Precisely a parameter mutation
(param count, weight transfer).
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio=4):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        return x * torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio=4, kernel_size=7):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
