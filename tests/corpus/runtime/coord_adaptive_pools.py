"""Coordinate Attention as its authors wrote it: the strips come from nn.AdaptiveAvgPool2d((None, 1))
and ((1, None)), the rest (1x1 convs with biases, BatchNorm, h-swish, two sigmoid gates) as the spec.

Correct in eager mode and under torch.export: the same values as the spec's block at every size.
Deployed, the adaptive pools carry the traced size: torch.export's ONNX graph averages with a fixed
AveragePool kernel (kernel_shape [1, traced W]), so onnxruntime is wrong at every other height or
width, or fails in a Concat/Mul node; inductor cannot lower the adaptive pool with dynamic sizes
(torch.compile(dynamic=True): InductorError).
"""

import torch
from torch import nn

EXPECT = {"coord_attention": {"eager": "pass", "export": "pass", "compile": "fail", "onnx": "fail"}}


class CoordAtt(nn.Module):
    def __init__(self, inp, reduction=32):
        super().__init__()
        mip = max(8, inp // reduction)
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = nn.Hardswish()
        self.conv_h = nn.Conv2d(mip, inp, kernel_size=1)
        self.conv_w = nn.Conv2d(mip, inp, kernel_size=1)

    def forward(self, x):
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w.permute(0, 1, 3, 2)).sigmoid()
        return x * a_w * a_h


def coord_attention(*, in_channel, reduction=32):
    return CoordAtt(in_channel, reduction)
