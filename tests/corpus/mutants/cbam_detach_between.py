"""CBAM that detaches the channel-refined map before computing the spatial gate.

Broken: y = channel_attention(x); return y * spatial_gate(y.detach()) ("the spatial statistics
need no gradient" -- saves memory). Outputs are exact.
Why wrong: documents §3.4: CBAM is spatial_attention(channel_attention(x)), one differentiable
function trained end to end; the gradients w.r.t. the input and the channel attention's fc1/fc2
must include the path through the spatial gate (attncert's requirements: input and parameter gradients equal to
the oracle's).
Visible: only in the backward pass: input gradient, channel-attention weight gradients, gradcheck;
the spatial conv's gradient stays right.
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
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        return x * torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))[:, :, None, None]


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def gate(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))

    def forward(self, x):
        return x * self.gate(x)


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = ChannelAttention(in_channel, ratio)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        y = self.channel_attention(x)
        return y * self.spatial_attention.gate(y.detach())


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
