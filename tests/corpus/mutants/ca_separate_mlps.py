"""CBAM channel attention with separate MLPs for the max- and the average-pooled vectors.

Broken: fc1/fc2 for the max branch and fc1_avg/fc2_avg for the average branch -- twice the
parameters (4 * C * (C // ratio) instead of 2 * C * (C // ratio)).
Why wrong: documents §3.2: "池化后的特征图共用一个多层感知器网络" -- ONE shared MLP; the code applies
self.fc1/self.fc2 to both pooled vectors, and the torchstat table counts 512 parameters for the
two layers at C = 32.
Visible: always, in the parameter count; the four tensors cannot be transferred in registration
order onto the two canonical ones. Precisely a parameter mutation.
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        hidden = in_channel // ratio
        self.fc1 = nn.Linear(in_channel, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, in_channel, bias=False)
        self.fc1_avg = nn.Linear(in_channel, hidden, bias=False)
        self.fc2_avg = nn.Linear(hidden, in_channel, bias=False)

    def forward(self, x):
        by_max = self.fc2(torch.relu(self.fc1(x.amax(dim=(2, 3)))))
        by_avg = self.fc2_avg(torch.relu(self.fc1_avg(x.mean(dim=(2, 3)))))
        return x * torch.sigmoid(by_max + by_avg)[:, :, None, None]


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
