"""A minimal correct SE (the plug-in contract's smallest adapter): the tests that need a file
providing only `se` write this text, or a one-line change of it."""

from torch import nn


class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Linear(c, c // r, bias=False)
        self.fc2 = nn.Linear(c // r, c, bias=False)

    def forward(self, x):
        return x * self.fc2(self.fc1(x.mean((2, 3))).relu()).sigmoid()[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
