"""CBAM spatial attention with a custom channel-max Function whose backward ignores the arg-max.

Broken: the forward returns x.amax(dim=1) exactly, but the backward hands the incoming gradient
to EVERY channel (grad.expand_as(x)) instead of only to the channel holding the maximum.
Why wrong: documents §3.3: torch.max(inputs, dim=1) -- the derivative of a max flows only to the
maximal element; attncert's requirements requires input gradients equal to the oracle's and gradcheck.
Visible: only in the backward pass, w.r.t. the input, when C > 1; outputs and the conv weight's
gradient are exact, and at C = 1 the two backwards agree.
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class _ChannelMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.amax(dim=1, keepdim=True)

    @staticmethod
    def backward(ctx, grad):
        return grad.expand(ctx.shape).clone()


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([_ChannelMax.apply(x), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
