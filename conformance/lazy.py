"""Import torch on first use, so that reading the spec and the clause catalogue stays cheap.

``attncert list``, ``explain``, ``reproduce`` and ``replay`` need the clauses' names, options and
docstrings and the oracle registry's names, all defined in modules that also hold torch code. Those
modules bind ``torch = lazy_torch()`` and touch ``torch.<attribute>`` only inside functions: the
parent process then never pays the 2-4 s of importing torch; a worker pays it when a clause runs.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_torch() -> ModuleType:
    """The torch module: the real one if already imported, else one that loads on first attribute access."""
    loaded = sys.modules.get("torch")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError("attncert needs torch: pip install torch", name="torch")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["torch"] = module
    loader.exec_module(module)
    return module


def torch_is_loaded() -> bool:
    """Whether torch has really been imported (not merely registered lazily)."""
    return "torch._C" in sys.modules
