"""SE with dropout on the hidden layer (active in train mode only).

Broken: nn.Dropout(0.2) after the ReLU ("regularise the excitation").
Why wrong: documents §1.2: fc1 -> ReLU -> fc2 -> sigmoid, nothing else; the blocks have no dropout
or batch statistics, so train and eval must agree (spec invariant train_eval).
Visible: only in train mode (outputs differ from the oracle and between calls); in eval mode the
module is exact -- a harness that only calls .eval() misses it.
"""

from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.avg_pool(x).flatten(1)
        y = self.sigmoid(self.fc2(self.drop(self.relu(self.fc1(y)))))
        return x * y.view(b, c, 1, 1)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
