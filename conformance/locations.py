"""Where the bundled spec and implementations live (no imports beyond the standard library: the
pytest plugin and the command line read this before deciding what else to load)."""

from __future__ import annotations

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
