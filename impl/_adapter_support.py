"""Helpers shared by the bundled library adapters (not a target: its name starts with '_').

Adapters import it as a sibling module; it imports nothing from attncert.
"""

import importlib
import os
import sys

import torch


def import_library(adapter_file: str, package: str, pip_name: str, modules: tuple):
    """Import the installed ``package`` (and ``modules`` from it), never a file of this folder.

    The harness loads this file under a private module name and may put impl/ on sys.path, where
    this very file is called ``timm.py``: hide that folder while importing so ``timm`` is the
    library, and say which pip package to install when it is missing.
    """
    here = os.path.dirname(os.path.abspath(adapter_file))

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
        adapter = os.path.splitext(os.path.basename(adapter_file))[0]
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


def load_by_names(module, state, names):
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
