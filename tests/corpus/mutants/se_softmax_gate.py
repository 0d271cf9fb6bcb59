"""SE normalising the channel weights with softmax instead of sigmoid.

Broken: gate = softmax(fc2(relu(fc1(pooled))), dim=1), so the C weights sum to 1.
Why wrong: documents §1.2: "sigmoid激活函数,将权值归一化到0-1" -- each channel gets its own
independent sigmoid weight in (0, 1); softmax couples the channels and shrinks every weight by
roughly a factor C.
Visible: at every size (even C = 1: softmax of one logit is 1, sigmoid is not), every dtype.
"""

import torch
from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        b, c = x.shape[:2]
        y = self.avg_pool(x).reshape(b, c)
        y = torch.softmax(self.fc2(self.relu(self.fc1(y))), dim=1)
        return x * y.reshape(b, c, 1, 1)


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
