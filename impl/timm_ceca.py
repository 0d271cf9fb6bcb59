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

import importlib
import os
import sys

import torch


def _import_library(package: str, pip_name: str, modules: tuple):
    """Import the installed ``package`` (and ``modules`` from it), never a file of this folder.

    The harness loads this file under a private module name and may put impl/ on sys.path, where
    this very file is called ``timm.py``: hide that folder while importing so ``timm`` is the
    library, and say which pip package to install when it is missing.
    """
    here = os.path.dirname(os.path.abspath(__file__))

    def shadows(entry) -> bool:
        try:
            return os.path.samefile(entry or os.curdir, here)
        except (OSError, TypeError):
            return False

    removed = [(i, entry) for i, entry in enumerate(sys.path) if shadows(entry)]
    for i, _ in reversed(removed):
        del sys.path[i]
    stale = sys.modules.get(package)
    if stale is not None and shadows(os.path.dirname(os.path.abspath(getattr(stale, "__file__", None) or os.sep))):
        del sys.modules[package]  # a file of this folder was imported under the library's name
    try:
        return [importlib.import_module(name) for name in modules]
    except ModuleNotFoundError as err:
        adapter = os.path.splitext(os.path.basename(__file__))[0]
        if err.name == package:
            raise ModuleNotFoundError(
                f"attncert's {adapter} adapter needs the package {pip_name!r}: pip install {pip_name}", name=package
            ) from None
        raise ModuleNotFoundError(
            f"attncert's {adapter} adapter could not import {package}: it needs {err.name!r} ({err})", name=err.name
        ) from err
    finally:
        for i, entry in removed:
            sys.path.insert(i, entry)


(_eca,) = _import_library("timm", "timm", ("timm.layers.eca",))

VARIANTS = {"eca": {"padding_mode": "circular", "kernel_min": 3}}


def eca(*, in_channel: int, b: int = 1, gamma: int = 2):
    return _eca.CecaModule(channels=in_channel, gamma=gamma, beta=b)


# ---------------------------------------------------------------- weight transfer: names only
def _load(module, state, names):
    """Copy ``state[canonical]`` into the parameter ``names[canonical]``, reshaped (same element count).

    Every parameter of the module must be covered and every canonical tensor used, else ValueError.
    """
    params = dict(module.named_parameters())
    wanted = {canonical: target for canonical, target in names.items() if target in params}
    uncovered = sorted(set(params) - set(wanted.values()))
    if uncovered:
        raise ValueError(f"parameters {uncovered} of the module have no canonical counterpart")
    missing = sorted(c for c in wanted if c not in state)
    extra = sorted(set(state) - set(wanted))
    if missing or extra:
        raise ValueError(
            f"the canonical state lacks {missing} / has unused {extra} for this module "
            f"(parameters {[(n, list(p.shape)) for n, p in params.items()]})"
        )
    with torch.no_grad():
        for canonical, target in wanted.items():
            param, tensor = params[target], state[canonical]
            if param.numel() != tensor.numel():
                raise ValueError(f"{canonical} {list(tensor.shape)} does not fit {target} {list(param.shape)}")
            param.copy_(tensor.reshape(param.shape))


def load_eca(module, state):
    _load(module, state, {"conv.weight": "conv.weight", "conv.bias": "conv.bias"})
