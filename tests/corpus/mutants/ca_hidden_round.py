"""CBAM channel attention with hidden width round(C / ratio) instead of C // ratio.

Broken: hidden = round(in_channel / ratio) ("C / ratio, rounded").
Why wrong: documents §3.2: nn.Linear(in_channel, in_channel // ratio) -- floor division; the
spec's param count is 2 * C * (C // ratio).
Visible: only when the fractional part of C / ratio is above one half (or exactly one half with
an odd quotient, Python rounds half to even): e.g. C = 7, ratio = 4 -> 2 instead of 1; C = 6,
ratio = 4 -> 2 instead of 1; C = 11, ratio = 2 -> 6 instead of 5. Exact whenever ratio divides C.
Precisely a parameter mutation (param count, weight transfer).
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        hidden = max(1, round(in_channel / ratio))
        self.fc1 = nn.Linear(in_channel, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, in_channel, bias=False)

    def forward(self, x):
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        return x * torch.sigmoid(mlp(x.amax(dim=(2, 3))) + mlp(x.mean(dim=(2, 3))))[:, :, None, None]


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
