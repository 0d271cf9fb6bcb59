"""SimAM that ignores its lambda argument.

Broken: self.e_lambda = 1e-4 whatever the factory is given (the default is right, others are not).
"""

import torch
from torch import nn

EXPECT = {"simam": "fail"}


class SimAM(nn.Module):
    def __init__(self, e_lambda):
        super().__init__()
        self.e_lambda = 1e-4

    def forward(self, x):
        positions = x.shape[2] * x.shape[3]
        distance = (x - x.mean(dim=(2, 3), keepdim=True)) ** 2
        variance = distance.sum(dim=(2, 3), keepdim=True) / (positions - 1)
        return x * torch.sigmoid(distance / (4 * (variance + self.e_lambda)) + 0.5)


def simam(*, e_lambda):
    return SimAM(e_lambda)
