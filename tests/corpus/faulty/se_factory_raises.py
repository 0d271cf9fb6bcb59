"""SE whose factory raises: `se(in_channel=..., ratio=...)` always raises RuntimeError.

Misbehaviour: construction fails before any module exists (as a library would on an unsupported
argument). The harness must report every SE clause as failed with the exception's message, not crash.
"""

from torch import nn

EXPECT = {"se": "fail"}


class SE(nn.Module):
    def __init__(self, in_channel, ratio):
        super().__init__()
        raise RuntimeError(f"se_factory_raises: refusing to build SE(in_channel={in_channel}, ratio={ratio})")


def se(*, in_channel, ratio):
    return SE(in_channel, ratio)
