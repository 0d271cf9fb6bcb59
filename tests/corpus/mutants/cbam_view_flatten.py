"""CBAM whose channel pools flatten the input with x.view(b * c, h * w).

Broken: by_max = x.view(b * c, -1).max(-1) and by_avg = x.view(b * c, -1).mean(-1): `.view`
requires B with C and H with W to be mergeable without a copy. A channels_last input (batch and
channel strides not nested) or a transposed / H-sliced input raises "view size is not compatible
with input tensor's size and stride" (a step slice along W, x[..., ::2], happens to work).
Why wrong: the documents' block (§3.2 AdaptiveMaxPool2d / AdaptiveAvgPool2d) accepts any tensor
layout; certification requires channels_last and non-contiguous inputs to work.
Visible: only for channels_last inputs (with H * W > 1) and transposed / H-sliced inputs (H, W > 1);
exact for contiguous ones.
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        flat = x.view(b * c, h * w)
        by_max = flat.max(-1)[0].view(b, c)
        by_avg = flat.mean(-1).view(b, c)
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        return x * torch.sigmoid(mlp(by_max) + mlp(by_avg)).view(b, c, 1, 1)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
