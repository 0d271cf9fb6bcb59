"""Correct BAM: the authors' MODELS/bam.py classes with their two defects fixed.

ChannelGate, SpatialGate and BAM as written by the authors (Flatten, the Sequential layer names,
expand_as, att * in_tensor with att = 1 + sigmoid(channel * spatial)), with the undefined global
gate_activation removed from ChannelGate.__init__ (a NameError on construction) and the channel
pooling made global (adaptive average pooling) where they pool an H x H window. Must be accepted.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECT = {"bam": "pass"}


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


class ChannelGate(nn.Module):
    def __init__(self, gate_channel, reduction_ratio=16, num_layers=1):
        super(ChannelGate, self).__init__()
        self.gate_c = nn.Sequential()
        self.gate_c.add_module('flatten', Flatten())
        gate_channels = [gate_channel]
        gate_channels += [gate_channel // reduction_ratio] * num_layers
        gate_channels += [gate_channel]
        for i in range(len(gate_channels) - 2):
            self.gate_c.add_module('gate_c_fc_%d' % i, nn.Linear(gate_channels[i], gate_channels[i + 1]))
            self.gate_c.add_module('gate_c_bn_%d' % (i + 1), nn.BatchNorm1d(gate_channels[i + 1]))
            self.gate_c.add_module('gate_c_relu_%d' % (i + 1), nn.ReLU())
        self.gate_c.add_module('gate_c_fc_final', nn.Linear(gate_channels[-2], gate_channels[-1]))

    def forward(self, in_tensor):
        avg_pool = F.adaptive_avg_pool2d(in_tensor, 1)
        return self.gate_c(avg_pool).unsqueeze(2).unsqueeze(3).expand_as(in_tensor)


class SpatialGate(nn.Module):
    def __init__(self, gate_channel, reduction_ratio=16, dilation_conv_num=2, dilation_val=4):
        super(SpatialGate, self).__init__()
        self.gate_s = nn.Sequential()
        self.gate_s.add_module('gate_s_conv_reduce0', nn.Conv2d(gate_channel, gate_channel // reduction_ratio, kernel_size=1))
        self.gate_s.add_module('gate_s_bn_reduce0', nn.BatchNorm2d(gate_channel // reduction_ratio))
        self.gate_s.add_module('gate_s_relu_reduce0', nn.ReLU())
        for i in range(dilation_conv_num):
            self.gate_s.add_module('gate_s_conv_di_%d' % i, nn.Conv2d(gate_channel // reduction_ratio, gate_channel // reduction_ratio,
                                                                      kernel_size=3, padding=dilation_val, dilation=dilation_val))
            self.gate_s.add_module('gate_s_bn_di_%d' % i, nn.BatchNorm2d(gate_channel // reduction_ratio))
            self.gate_s.add_module('gate_s_relu_di_%d' % i, nn.ReLU())
        self.gate_s.add_module('gate_s_conv_final', nn.Conv2d(gate_channel // reduction_ratio, 1, kernel_size=1))

    def forward(self, in_tensor):
        return self.gate_s(in_tensor).expand_as(in_tensor)


class BAM(nn.Module):
    def __init__(self, gate_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
        super(BAM, self).__init__()
        self.channel_att = ChannelGate(gate_channel, reduction_ratio, num_layers)
        self.spatial_att = SpatialGate(gate_channel, reduction_ratio, dilation_conv_num, dilation_val)

    def forward(self, in_tensor):
        att = 1 + torch.sigmoid(self.channel_att(in_tensor) * self.spatial_att(in_tensor))
        return att * in_tensor


def bam(*, in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val):
    return BAM(in_channel, reduction_ratio, num_layers, dilation_conv_num, dilation_val)
