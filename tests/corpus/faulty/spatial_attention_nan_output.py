"""CBAM spatial attention with a NaN in exactly one output element (index [0, 0, 0, 0]).

Misbehaviour: a NaN in an otherwise correct output. `NaN != NaN`, so a comparison that uses
`(a - b).abs().max() <= tol` or `torch.allclose(..., equal_nan=True)` can miss it. Every value clause
must fail, and the counterexample must still be reported (shrinking must not choke on NaN).
"""

import torch
from torch import nn

EXPECT = {"spatial_attention": "fail"}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        out = x * self.sigmoid(self.conv(pooled))
        poison = torch.zeros_like(out)
        poison[0, 0, 0, 0] = float("nan")
        return out + poison


def spatial_attention(*, kernel_size):
    return SpatialAttention(kernel_size)
