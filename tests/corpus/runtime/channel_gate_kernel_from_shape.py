"""CBAM's channel attention as the official CBAM code writes its pools: F.avg_pool2d and F.max_pool2d
with a kernel taken from the input's size, (x.size(2), x.size(3)).

Correct in eager mode, and under torch.compile (inductor specialises H and W and compiles a graph
for each size). Exported, the kernel is a constant of the traced size: torch.export refuses to keep
H and W dynamic (a constraint violation: "You marked H as dynamic but your code specialized it"),
and the ONNX exporter silently fixes them, so onnxruntime rejects every other size ("Got invalid
dimensions for input").
"""

import torch
import torch.nn.functional as F
from torch import nn

EXPECT = {"channel_attention": {"eager": "pass", "compile": "pass", "export": "fail", "onnx": "fail"}}


class ChannelGate(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(in_channel, in_channel // ratio, bias=False), nn.ReLU(),
                                 nn.Linear(in_channel // ratio, in_channel, bias=False))

    def forward(self, x):
        avg = F.avg_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
        mx = F.max_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
        return x * torch.sigmoid(self.mlp(mx) + self.mlp(avg))[:, :, None, None]


def channel_attention(*, in_channel, ratio=4):
    return ChannelGate(in_channel, ratio)


def load_channel_attention(module, state):
    module.mlp[1].weight.copy_(state["fc1.weight"])
    module.mlp[3].weight.copy_(state["fc2.weight"])
