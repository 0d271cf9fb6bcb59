"""CBAM channel attention that forgot the max-pool branch (it degenerates to SE).

Broken: gate = sigmoid(mlp(avgpool(x))); the max-pooled branch is missing.
Why wrong: documents §3.2: "先将输入特征图分别进行全局最大池化和全局平均池化" and the code sums
fc2(relu(fc1(max_pool))) + fc2(relu(fc1(avg_pool))) before the sigmoid.
Visible: whenever the max-branch logit is non-zero: at every size with random input and weights,
including H = W = 1 (there the correct gate is sigmoid(2 * mlp(x)), the mutant's sigmoid(mlp(x))).
"""

from torch import nn

EXPECT = {"channel_attention": "fail"}


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(1)  # built, never used
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.relu = nn.ReLU()
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.fc2(self.relu(self.fc1(self.avg_pool(x).view(b, c))))
        return x * self.sigmoid(y).view(b, c, 1, 1)


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
