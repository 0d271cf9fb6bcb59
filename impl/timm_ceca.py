"""attncert adapter for timm's circular ECA, ``timm.layers.eca.CecaModule`` (its own file: an adapter
has one ``eca`` factory, and impl/timm.py's is the zero-padded ``EcaModule``).

``eca(in_channel, b, gamma)`` builds ``CecaModule(channels=in_channel, gamma=gamma, beta=b)`` with
timm's defaults. Declared variants (line numbers: timm 1.0.31, timm/layers/eca.py):

- ``padding_mode="circular"``: lines 157-158 build the Conv1d with ``padding=0`` and line 164 pads the
  channel sequence with ``F.pad(y, (p, p), mode='circular')``.
- ``kernel_min=3``: lines 149-150, ``kernel_size = max(t if t % 2 else t + 1, 3)``.
- no bias: line 158, ``bias=has_act`` with ``act_layer=None`` (the default).

Known limit of the library: ``F.pad(..., mode='circular')`` needs the padding (k - 1) // 2 to be at
most the number of channels C, so settings with (k - 1) // 2 > C (e.g. C=1 with k=5, or C=2 with
b=16, gamma=1) raise inside CecaModule.forward; the spec's circular convolution wraps any number
of times.
"""

from _adapter_support import import_library as _import_library, load_by_names as _load


(_eca,) = _import_library(__file__, "timm", "timm", ("timm.layers.eca",))

VARIANTS = {"eca": {"padding_mode": "circular", "kernel_min": 3}}


def eca(*, in_channel: int, b: int = 1, gamma: int = 2):
    return _eca.CecaModule(channels=in_channel, gamma=gamma, beta=b)


# ---------------------------------------------------------------- weight transfer: names only
def load_eca(module, state):
    _load(module, state, {"conv.weight": "conv.weight", "conv.bias": "conv.bias"})
