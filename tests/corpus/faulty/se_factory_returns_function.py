"""SE whose factory returns a plain function (a closure over weight tensors) instead of an nn.Module.

Misbehaviour: the factory's result is callable and computes a correct SE, but it is not an
`nn.Module`: no `.parameters()`, `.train()`, `.eval()`, `.to()`, `.double()`, `state_dict()`. The
harness must fail the block with a message saying an nn.Module was expected (the plug-in contract), not crash
with AttributeError on `.parameters`.
"""

import math

import torch

EXPECT = {"se": "fail"}


def se(*, in_channel, ratio):
    hidden = in_channel // ratio
    w1 = (torch.rand(hidden, in_channel) * 2 - 1) / math.sqrt(in_channel)
    w2 = (torch.rand(in_channel, hidden) * 2 - 1) / math.sqrt(hidden)

    def forward(x):
        squeezed = x.mean(dim=(2, 3))
        gate = torch.sigmoid(torch.relu(squeezed @ w1.t().to(x)) @ w2.t().to(x))
        return x * gate[:, :, None, None]

    return forward
