"""CBAM spatial attention with F.dropout on the gate -- which is active even in eval mode.

Broken: gate = F.dropout(sigmoid(conv(pooled)), p=0.1). The functional form defaults to
training=True, so it drops (and rescales by 1/0.9) gate pixels in eval mode too: the output is
random on every call.
Why wrong: documents §3.3: the gate is sigmoid(conv(...)), nothing else; the block must be
deterministic and have no dropout (spec invariant train_eval; "deterministic").
Visible: in both modes, as a mismatch with the oracle and as two calls on the same input giving
different outputs (with H * W large enough that some pixel is dropped; on a 1x1 map only about one
call in ten).
"""

import torch
from torch import nn
import torch.nn.functional as F

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x):
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * F.dropout(torch.sigmoid(self.conv(pooled)), p=0.1)


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
