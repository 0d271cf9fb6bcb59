"""SE squeezing with global MAX pooling instead of global average pooling.

Broken: the squeeze is AdaptiveMaxPool2d(1) (someone reused CBAM's max branch).
Why wrong: documents §1.1 (1) "Squeeze:通过全局平均池化" and §1.2 nn.AdaptiveAvgPool2d -- SE
squeezes with the mean over H*W.
Visible: whenever a channel is not constant over space, i.e. H * W > 1 with random input.
Invisible at H = W = 1, where max and mean of one value agree -- a harness that only tries 1x1
maps waves it through.
"""

from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.pool(x).reshape(b, c)
        y = self.sigmoid(self.fc2(self.relu(self.fc1(y))))
        return x * y.reshape(b, c, 1, 1)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
