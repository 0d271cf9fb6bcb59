"""CBAM channel attention with a hand-written global max pool whose backward is the average's.

Broken: a custom autograd.Function computes x.amax over H, W exactly, but its backward spreads the
incoming gradient evenly over all H * W positions (copied from the average pool's Function)
instead of routing it to the arg-max position.
Why wrong: documents §3.2: the block is inputs * sigmoid(mlp(maxpool) + mlp(avgpool)) with a true
global max pool; its derivative w.r.t. the input is the max pool's, and attncert's requirements requires input
gradients equal to the oracle's (and gradcheck).
Visible: only in the backward pass, w.r.t. the input, when H * W > 1. Outputs and the parameter
gradients are exact; at H = W = 1 the two backwards coincide.
"""

import torch
from torch import nn

EXPECT = {"channel_attention": "fail"}


class _GlobalMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.amax(dim=(2, 3))

    @staticmethod
    def backward(ctx, grad):
        b, c, h, w = ctx.shape
        return grad[:, :, None, None].expand(b, c, h, w) / (h * w)


class ChannelAttention(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x):
        def mlp(v):
            return self.fc2(torch.relu(self.fc1(v)))

        logits = mlp(_GlobalMax.apply(x)) + mlp(x.mean(dim=(2, 3)))
        return x * torch.sigmoid(logits)[:, :, None, None]


def channel_attention(*, in_channel, ratio):
    return ChannelAttention(in_channel, ratio)
