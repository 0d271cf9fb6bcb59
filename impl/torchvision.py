"""attncert adapter for torchvision's ``torchvision.ops.misc.SqueezeExcitation`` (SE only: torchvision
has no ECA or CBAM).

``se(in_channel, ratio)`` builds ``SqueezeExcitation(input_channels=in_channel,
squeeze_channels=in_channel // ratio)``: the hidden width is the documents' C // ratio, computed by the
adapter because torchvision takes the width itself, not a ratio. Declared variant (line numbers:
torchvision 0.29.1, torchvision/ops/misc.py):

- ``bias=True``: lines 247-248, ``torch.nn.Conv2d(input_channels, squeeze_channels, 1)`` and back,
  with Conv2d's default ``bias=True``.

The 1x1 convolutions take the canonical linear weights reshaped to [out, in, 1, 1].
"""

from _adapter_support import import_library as _import_library, load_by_names as _load


(_misc,) = _import_library(__file__, "torchvision", "torchvision", ("torchvision.ops.misc",))

VARIANTS = {"se": {"bias": True}}


def se(*, in_channel: int, ratio: int = 4):
    return _misc.SqueezeExcitation(input_channels=in_channel, squeeze_channels=in_channel // ratio)


# ---------------------------------------------------------------- weight transfer: names only
def load_se(module, state):
    _load(module, state, {"fc1.weight": "fc1.weight", "fc1.bias": "fc1.bias",
                          "fc2.weight": "fc2.weight", "fc2.bias": "fc2.bias"})
