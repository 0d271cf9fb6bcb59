"""A correct SE whose module, at import, reserves 256 GiB of address space it never uses.

Not a misbehaviour: the CUDA driver does the same when it initialises (it reserves a large virtual
range for unified addressing), and so do some allocators. A reservation with PROT_NONE and
MAP_NORESERVE costs no memory. A memory guard that limits address space (RLIMIT_AS) breaks such a
module at import, and with it every certification on a GPU machine; attncert bounds the memory
really used (resident memory), so this SE must certify normally.
"""

import mmap

import torch
from torch import nn

EXPECT = {"se": "pass"}

NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)  # Linux's value; Python names it from 3.13 on
PROT_NONE = 0  # no access at all: Python's mmap module names only PROT_READ / PROT_WRITE / PROT_EXEC
RESERVED = mmap.mmap(-1, 256 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | NORESERVE, prot=PROT_NONE)


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        self.fc1 = nn.Linear(in_channel, in_channel // ratio, bias=False)
        self.fc2 = nn.Linear(in_channel // ratio, in_channel, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
        return x * gate[:, :, None, None]


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
