"""What can be certified: a path to an adapter file, an importable module, or a bundled name.

Resolution (``resolve``) runs in the parent without importing anything; loading (``load_adapter``)
runs in the worker, where the implementation's import-time errors cannot hurt the harness.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from .locations import IMPL_DIR


class TargetError(Exception):
    """The target cannot be found or imported (exit status 2)."""


class MissingDependency(TargetError):
    """The target needs a package that is not installed (e.g. a library adapter's library)."""


@dataclass(frozen=True)
class TargetRef:
    label: str  # as printed and stored in the certificate
    path: str | None = None  # an adapter file (absolute)
    module: str | None = None  # or an importable module name

    @property
    def command_name(self) -> str:
        """How a printed command names the target so that it works from any folder: a bundled name
        or a module as it is, a file by its absolute path."""
        if self.path is None or bundled_targets().get(self.label) == Path(self.path):
            return self.label
        return self.path


def bundled_targets() -> dict[str, Path]:
    """impl/*.py not starting with '_', by stem: the names `attncert certify NAME` accepts."""
    if not IMPL_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(IMPL_DIR.glob("*.py")) if not p.name.startswith("_")}


def resolve(target: str) -> TargetRef:
    path = Path(target)
    if target.endswith(".py") or path.suffix or "/" in target or path.is_file():
        if not path.is_file():
            raise TargetError(f"no such adapter file: {target}")
        return TargetRef(label=target, path=str(path.resolve()))
    bundled = bundled_targets()
    if target in bundled:
        return TargetRef(label=target, path=str(bundled[target]))
    if importlib.util.find_spec(target.split(".")[0]) is None:
        names = ", ".join(bundled) or "none"
        raise TargetError(f"{target!r} is neither a file, a bundled implementation ({names}) nor an importable module")
    return TargetRef(label=target, module=target)


def import_target(ref: TargetRef):
    """Import the adapter's module (a file under a private name, so impl/timm.py never shadows timm)."""
    if ref.module is not None:
        return importlib.import_module(ref.module)
    path = Path(ref.path or "")
    name = f"attncert_target_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))  # sibling helpers importable, installed packages first
    spec.loader.exec_module(module)
    return module


def load_adapter(ref: TargetRef, spec, source: object | None = None):
    """The Adapter of a target: its factories, load_<block> hooks, declared VARIANTS and DOMAIN."""
    from .expr import Expr, ExprError
    from .subject import Adapter

    module = source if source is not None else import_target(ref)
    namespace = module if isinstance(module, dict) else vars(module)
    factory_names = [block.factory for block in spec.blocks.values()]
    factories = {name: namespace[name] for name in factory_names if callable(namespace.get(name))}
    loaders = {block.name: namespace[f"load_{block.name}"] for block in spec.blocks.values()
               if callable(namespace.get(f"load_{block.name}"))}
    variants = namespace.get("VARIANTS") or {}
    if not isinstance(variants, dict) or not all(isinstance(v, dict) for v in variants.values()):
        raise TargetError(f"{ref.label}: VARIANTS must be a dict of block name -> dict of variant options")
    declared_domains = namespace.get("DOMAIN") or {}
    if not isinstance(declared_domains, dict) or not all(isinstance(v, str) for v in declared_domains.values()):
        raise TargetError(f"{ref.label}: DOMAIN must be a dict of block name -> formula, e.g. "
                          '{"spatial_attention": "kernel_size in (3, 7)"}')
    domains = {}
    for name in {**variants, **declared_domains}:
        block = spec.block(name)  # an unknown block name: DomainError, exit status 2
        if name in variants:
            block.check_variant(variants[name])
        if name not in declared_domains:
            continue
        try:
            formula = Expr.parse(declared_domains[name])
            formula.evaluate(block.env(block.sample_setting(), variants.get(name, {})))
        except ExprError as err:
            raise TargetError(f"{ref.label}: DOMAIN[{name!r}]: {err}") from None
        domains[name] = formula
    defines = tuple(n for n, v in namespace.items() if callable(v) and not n.startswith("_")
                    and getattr(v, "__module__", None) == namespace.get("__name__"))[:20]
    return Adapter(ref.label, factories, loaders, variants, domains, defines)

