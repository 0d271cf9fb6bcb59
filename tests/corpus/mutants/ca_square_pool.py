"""CBAM channel attention whose global pools assume a square map: pool window = H x H.

Broken: F.max_pool2d(x, x.size(2)) and F.avg_pool2d(x, x.size(2)) -- "global" pooling with a
window of the height only (a common copy of the square-image case).
Why wrong: documents §3.2: nn.AdaptiveMaxPool2d(1) / nn.AdaptiveAvgPool2d(1) pool over all H * W
positions of any [b, c, h, w] map.
Visible: only when H != W: for H < W < 2H only the first H x H square is pooled (silently wrong);
for W >= 2H the pooled map has several columns and view(b, c) raises; for W < H the window is
larger than the map and pooling raises. Exact on every square input -- the sizes most harnesses
try.
"""

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        b, c, h, w = x.shape
        by_max = F.max_pool2d(x, h).view(b, c)
        by_avg = F.avg_pool2d(x, h).view(b, c)
        logits = self.fc2(F.relu(self.fc1(by_max))) + self.fc2(F.relu(self.fc1(by_avg)))
        return x * torch.sigmoid(logits).view(b, c, 1, 1)


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
