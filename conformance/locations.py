"""Where the bundled spec and implementations live (no imports beyond the standard library: the
pytest plugin and the command line read this before deciding what else to load)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path


def bundled_folder(name: str) -> Path:
    """The top-level spec/ or impl/ folder, as the package carries it (conformance._spec, conformance._impl:
    a wheel installs them inside the package, an editable install maps them to the checkout's folders)."""
    try:
        return Path(str(resources.files(f"conformance._{name}")))
    except ModuleNotFoundError:  # a source checkout that is not installed
        return Path(__file__).resolve().parent.parent / name


SPEC_DIR = bundled_folder("spec")
DEFAULT_SPEC = SPEC_DIR / "blocks.yaml"
IMPL_DIR = bundled_folder("impl")


def cache_folder() -> Path:
    """Where attncert keeps what outlives a run (failing examples, Hypothesis' own files, selftest
    mutants): ``$XDG_CACHE_HOME/attncert``, by default ``~/.cache/attncert``; never the current folder."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "attncert"
