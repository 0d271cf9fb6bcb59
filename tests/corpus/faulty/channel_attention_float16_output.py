"""CBAM channel attention whose output is always float16, whatever the input dtype.

Misbehaviour: wrong output dtype (an autocast-style `.half()` left in). Values are right up to
float16 rounding; the dtype clauses must fail for float32 and float64 input, and the equivalence
clauses must not silently compare after casting back.
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def mlp(self, pooled):
        return self.fc2(self.relu(self.fc1(pooled.flatten(1))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.mlp(self.max_pool(x)) + self.mlp(self.avg_pool(x)))
        return (x * gate[:, :, None, None]).half()


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
