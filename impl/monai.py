"""attncert adapter for MONAI's ``monai.networks.blocks.squeeze_and_excitation.ChannelSELayer`` (SE only:
MONAI has no ECA or CBAM block; its ResidualSELayer and SEBlock are SE with a residual or with
convolutions around it, which the spec does not describe).

``se(in_channel, ratio)`` builds ``ChannelSELayer(spatial_dims=2, in_channels=in_channel, r=ratio)``
with MONAI's defaults (ReLU, sigmoid, no residual). Declared variant (line numbers: MONAI 1.6.1,
monai/networks/blocks/squeeze_and_excitation.py):

- ``bias=True``: lines 68 and 70, ``nn.Linear(..., bias=True)`` for both layers. The hidden width is
  ``int(in_channels // r)`` (line 61), the documents' C // ratio.
"""

from _adapter_support import import_library as _import_library, load_by_names as _load


(_squeeze_and_excitation,) = _import_library(__file__, "monai", "monai", ("monai.networks.blocks.squeeze_and_excitation",))

VARIANTS = {"se": {"bias": True}}


def se(*, in_channel: int, ratio: int = 4):
    return _squeeze_and_excitation.ChannelSELayer(spatial_dims=2, in_channels=in_channel, r=ratio)


# ---------------------------------------------------------------- weight transfer: names only
def load_se(module, state):
    _load(module, state, {"fc1.weight": "fc.0.weight", "fc1.bias": "fc.0.bias",
                          "fc2.weight": "fc.2.weight", "fc2.bias": "fc.2.bias"})
