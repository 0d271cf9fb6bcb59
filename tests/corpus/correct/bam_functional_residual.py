"""Correct BAM written functionally, as a residual of the attended input.

The hidden layers are nn.ModuleLists named as the canonical weights' order requires (linear and
BatchNorm1d per hidden layer, the final linear; then the reduce convolution, its BatchNorm, the
dilated convolutions with theirs, the final convolution), run by a load_bam that maps the
canonical names; the output is x + x * sigmoid(channel * spatial), the same value as
x * (1 + sigmoid(...)). Must be accepted.
"""

import torch
from torch import nn
from torch.nn import functional as F

EXPECT = {"bam": "pass"}


class BAM(nn.Module):
    def __init__(self, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
        super().__init__()
        hidden = in_channel // reduction_ratio
        self.dilation = dilation_val
        self.fcs = nn.ModuleList(nn.Linear(in_channel if i == 0 else hidden, hidden) for i in range(num_layers))
        self.fc_norms = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(num_layers))
        self.fc_out = nn.Linear(hidden, in_channel)
        self.reduce = nn.Conv2d(in_channel, hidden, 1)
        self.reduce_norm = nn.BatchNorm2d(hidden)
        self.dilated = nn.ModuleList(nn.Conv2d(hidden, hidden, 3) for _ in range(dilation_conv_num))
        self.dilated_norms = nn.ModuleList(nn.BatchNorm2d(hidden) for _ in range(dilation_conv_num))
        self.out = nn.Conv2d(hidden, 1, 1)

    def forward(self, x):
        channel = x.mean(dim=(2, 3))
        for fc, norm in zip(self.fcs, self.fc_norms):
            channel = F.relu(norm(fc(channel)))
        channel = self.fc_out(channel)[:, :, None, None]
        spatial = F.relu(self.reduce_norm(self.reduce(x)))
        for conv, norm in zip(self.dilated, self.dilated_norms):
            spatial = F.relu(norm(F.conv2d(spatial, conv.weight, conv.bias, padding=self.dilation, dilation=self.dilation)))
        return x + x * torch.sigmoid(channel * self.out(spatial))


def bam(*, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
    return BAM(in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val)


def load_bam(module, state):
    names = {}
    for i in range(len(module.fcs)):
        names[f"channel_att.gate_c.gate_c_fc_{i}"] = f"fcs.{i}"
        names[f"channel_att.gate_c.gate_c_bn_{i + 1}"] = f"fc_norms.{i}"
    names["channel_att.gate_c.gate_c_fc_final"] = "fc_out"
    names["spatial_att.gate_s.gate_s_conv_reduce0"] = "reduce"
    names["spatial_att.gate_s.gate_s_bn_reduce0"] = "reduce_norm"
    for i in range(len(module.dilated)):
        names[f"spatial_att.gate_s.gate_s_conv_di_{i}"] = f"dilated.{i}"
        names[f"spatial_att.gate_s.gate_s_bn_di_{i}"] = f"dilated_norms.{i}"
    names["spatial_att.gate_s.gate_s_conv_final"] = "out"
    params = dict(module.named_parameters())
    for canonical, tensor in state.items():
        layer, kind = canonical.rsplit(".", 1)
        params[f"{names[layer]}.{kind}"].copy_(tensor)
