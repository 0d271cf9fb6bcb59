"""SE that flattens the pooled map with a bare `.squeeze()`.

Broken: y = avg_pool(x).squeeze() drops every size-1 dimension, not just the two spatial ones, and
`.view(b, c, 1, 1)` restores the shape afterwards. With C = 1 the channel dimension vanishes too,
and fc1 (in_features = 1) is applied to a vector of length B (or to a 0-d scalar when B = 1).
Why wrong: documents §1.2: x.view([b, c]) -- [b, c, 1, 1] ==> [b, c], for every b and c. The spec
allows in_channel = 1 (with ratio = 1).
Visible: only at C = 1 (a RuntimeError for any B). For C > 1, including B = 1, it is exact.
"""

from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.avg_pool(x).squeeze()
        y = self.sigmoid(self.fc2(self.relu(self.fc1(y))))
        return x * y.view(b, c, 1, 1)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
