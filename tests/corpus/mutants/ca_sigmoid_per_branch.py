"""CBAM channel attention that applies the sigmoid to each branch and averages the two gates.

Broken: gate = (sigmoid(mlp(max)) + sigmoid(mlp(avg))) / 2 instead of sigmoid(mlp(max) + mlp(avg)).
Why wrong: documents §3.2 code: x = x_maxpool + x_avgpool; x = self.sigmoid(x) -- the logits are
summed, then ONE sigmoid.
Visible: at every size with random input and weights. Where H * W > 1 the branches differ; even
at H = W = 1 (max = avg = the single value z) the mutant gives (s(z) + s(z)) / 2 = s(z) where the
documents give s(2z). Bounded in [0, 1] like the real gate, so a harness checking only the
"bounded" invariant never sees it.
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def mlp(self, v):
        return self.fc2(torch.relu(self.fc1(v)))

    def forward(self, x):
        g_max = torch.sigmoid(self.mlp(x.amax(dim=(2, 3))))
        g_avg = torch.sigmoid(self.mlp(x.mean(dim=(2, 3))))
        return x * ((g_max + g_avg) / 2)[:, :, None, None]


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
