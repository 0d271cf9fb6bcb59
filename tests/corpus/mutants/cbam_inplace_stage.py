"""CBAM whose channel stage scales the input tensor in place.

Broken: the channel stage does `x.mul_(gate)` and passes x on to the spatial stage (which is
out of place). The returned values are right, but the caller's input is overwritten with
x * channel_gate, and autograd refuses the in-place op on a leaf that requires grad.
Why wrong: documents §3.2: `outputs = inputs * x` -- a new tensor; attncert's requirements: no mutation of
the input.
Visible: only to a check comparing the input before and after the call, or running backward
with a leaf input; the output equals the oracle's.
"""

import torch
from torch import nn

EXPECT = {"cbam": "fail"}


class CBAM(nn.Module):
    def __init__(self, in_channel, ratio, kernel_size):
        super().__init__()
        self.channel_attention = nn.Module()
        self.channel_attention.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.channel_attention.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.spatial_attention = nn.Module()
        self.spatial_attention.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        ca, sa = self.channel_attention, self.spatial_attention
        def mlp(v):
            return ca.fc2(torch.relu(ca.fc1(v)))

        gate = torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))
        x.mul_(gate[:, :, None, None])  # channel-refined map, in place
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(sa.conv(pooled))


def cbam(*, in_channel, ratio, kernel_size):
    return CBAM(in_channel, ratio, kernel_size)
