"""CBAM channel attention whose gate is clamped to [0.05, 0.95] after the sigmoid.

Broken: gate = sigmoid(z).clamp(0.05, 0.95). Inside the band it is the documents' block, so only
inputs or weights large enough to saturate the sigmoid (gates below 0.05 or above 0.95) show it:
the search must draw magnitudes as a dimension of their own, at every seed.
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        def mlp(pooled):
            return self.fc2(torch.relu(self.fc1(pooled)))

        gate = torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3)))).clamp(0.05, 0.95)
        return x * gate[:, :, None, None]


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
