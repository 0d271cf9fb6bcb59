"""Correct ECA whose kernel size is computed with integer arithmetic only, and applied as a band matrix.

Kernel size, without floating point: with L = log2 C and integers b, gamma >= 1,
  t = trunc(|(L + b) / gamma|)
    = floor((floor(L) + b) / gamma)        when L + b >= 0, i.e. b >= 0 or C >= 2**-b
    = floor((-b - ceil(L)) / gamma)        otherwise,
(floor((x + n) / m) = floor((floor(x) + n) / m) for integers n, m > 0), where
floor(L) = C.bit_length() - 1 and ceil(L) = (C - 1).bit_length(); then k = t | 1 (an even t
becomes t + 1, an odd t stays). This equals the documents' intent
int(abs((log2(C) + b) / gamma)) made odd upwards, padding k // 2, for every C >= 1.
The 1D convolution is a [C, C] band matrix M with M[j, j + i - k//2] = w[i], applied as s @ M.T.
Must be accepted.
"""

import torch
from torch import nn

EXPECT = {"eca": "pass"}


def kernel_size(c: int, b: int, gamma: int) -> int:
    if b >= 0 or c >= 1 << -b:
        t = (c.bit_length() - 1 + b) // gamma
    else:
        t = (-b - (c - 1).bit_length()) // gamma
    return t | 1


class ECA(nn.Module):
    def __init__(self, in_channel, b, gamma):
        super().__init__()
        k = kernel_size(in_channel, b, gamma)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)  # holds the [1, 1, k] weight

    def band(self, c, device):
        w = self.conv.weight.reshape(-1)
        k = w.numel()
        j = torch.arange(c, device=device)
        offset = j[None, :] - j[:, None] + k // 2          # tap index for (out j, in j')
        valid = (offset >= 0) & (offset < k)
        return w[offset.clamp(0, k - 1)] * valid           # [C, C]

    def forward(self, x):
        s = x.mean(dim=(2, 3))                             # [B, C]
        gate = torch.sigmoid(s @ self.band(x.shape[1], x.device).t().to(s.dtype))
        return x * gate[:, :, None, None]


def eca(*, in_channel, b, gamma):
    return ECA(in_channel, b, gamma)
