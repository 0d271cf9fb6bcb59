"""Correct selective kernel laid out as the authors' Caffe release, with a loader.

sknet50.prototxt's unit: conv "3x3g32" (dilation 1) and "3x3g32d2" (dilation 2) each with
BatchNorm and ReLU, an Eltwise sum, global average pooling, "B_fc1" (1x1 conv, no bias) with
BatchNorm and ReLU, "B_fc2" (1x1 conv to M C), a Reshape to [N, M, C, 1] and a Softmax over axis 1,
then Scale and Axpy to mix the paths. The layers have the Caffe names (so registration order is not
the canonical one's names); load_selective_kernel maps the canonical tensors onto them. Must be
accepted.
"""

import torch
from torch import nn

EXPECT = {"selective_kernel": "pass"}


class Unit(nn.Module):
    def __init__(self, in_channel, M, G, r, L):
        super().__init__()
        self.M = M
        d = max(in_channel // r, L)
        self.branches = nn.ModuleDict()
        for m in range(M):
            name = "conv3x3g" if m == 0 else f"conv3x3g_d{m + 1}"
            self.branches[name] = nn.Sequential(
                nn.Conv2d(in_channel, in_channel, 3, padding=m + 1, dilation=m + 1, groups=G, bias=False),
                nn.BatchNorm2d(in_channel), nn.ReLU())
        self.B_fc1 = nn.Sequential(nn.Conv2d(in_channel, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU())
        self.B_fc2 = nn.Conv2d(d, M * in_channel, 1, bias=False)

    def forward(self, x):
        branches = [branch(x) for branch in self.branches.values()]
        total = branches[0]
        for b in branches[1:]:
            total = total + b  # Eltwise SUM
        gap = total.mean(dim=(2, 3), keepdim=True)
        attention = self.B_fc2(self.B_fc1(gap))  # [N, M C, 1, 1]
        attention = torch.softmax(attention.reshape(x.shape[0], self.M, x.shape[1], 1), dim=1)
        out = branches[0] * attention[:, 0, :, :, None]  # Scale
        for m in range(1, self.M):
            out = out + branches[m] * attention[:, m, :, :, None]  # Axpy
        return out


def selective_kernel(*, in_channel, M, G, r, L):
    return Unit(in_channel, M, G, r, L)


def load_selective_kernel(module, state):
    params = dict(module.named_parameters())
    names = list(module.branches)
    for canonical, tensor in state.items():
        parts = canonical.split(".")
        if parts[0] == "paths":
            target = f"branches.{names[int(parts[1])]}." + ("0." if parts[2] == "conv" else "1.") + parts[3]
        else:
            target = {"fc_reduce.weight": "B_fc1.0.weight", "bn.weight": "B_fc1.1.weight", "bn.bias": "B_fc1.1.bias",
                      "fc_select.weight": "B_fc2.weight"}[".".join(parts[1:])]
        params[target].copy_(tensor.reshape(params[target].shape))
