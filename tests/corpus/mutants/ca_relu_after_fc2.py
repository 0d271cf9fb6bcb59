"""CBAM channel attention with the ReLU after the second layer instead of between the layers.

Broken: mlp(v) = relu(fc2(fc1(v))) -- the activation is applied to the output logits (so every
gate is >= 0.5) and the hidden layer is linear.
Why wrong: documents §3.2 code: fc1 -> relu -> fc2, for both pooled vectors, then sum and sigmoid.
Visible: at every size (with random weights some logits are negative and some hidden units are
negative), every dtype.
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x):
        def mlp(v):
            return self.relu(self.fc2(self.fc1(v)))

        logits = mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3)))
        return x * torch.sigmoid(logits)[:, :, None, None]


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
