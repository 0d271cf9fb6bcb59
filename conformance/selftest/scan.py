"""What the reference does, read from its syntax tree: its classes and their submodules, forward's
input, the constructor parameter that carries the channel count, who calls whom, and what every
imported name really is (``nn.Linear``, ``torch.nn.Linear`` and ``from torch.nn import Linear``
are all ``torch.nn.Linear``). Operators find their sites through this, never through the
reference's spelling, so renaming a variable or an import keeps every site.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import libcst as cst
from libcst.metadata import MetadataWrapper, QualifiedNameProvider, QualifiedNameSource


@dataclass
class ClassInfo:
    submodules: dict[str, cst.Call] = field(default_factory=dict)  # attr -> its constructor call, in registration order
    init_params: list[str] = field(default_factory=list)
    input_name: str = "x"  # forward's input
    channel_param: str | None = None  # the __init__ parameter that receives the channel count


def find(node: cst.CSTNode, kind) -> list:
    """Every node of ``kind`` under ``node`` (itself included)."""
    found = []

    class Finder(cst.CSTVisitor):
        def on_visit(self, n) -> bool:
            if isinstance(n, kind):
                found.append(n)
            return True

    node.visit(Finder())
    return found


class ReferenceScan:
    """A pre-scan of the reference module (see the module docstring)."""

    def __init__(self, module: cst.Module, factories: Iterable[str]):
        # unsafe_skip_copy: the metadata then describes the very nodes that operators visit
        self._names = MetadataWrapper(module, unsafe_skip_copy=True).resolve(QualifiedNameProvider)
        self.imports = _imports(module)  # local name -> the module or object it is bound to
        self.classes: dict[str, ClassInfo] = {}
        self.calls: dict[str, set[str]] = {}  # top-level class or function -> the top-level names it calls
        for statement in module.body:
            if isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
                self.calls[statement.name.value] = {self.qualified(c.func) for c in find(statement, cst.Call)} - {None}
            if isinstance(statement, cst.ClassDef):
                self.classes[statement.name.value] = self._class(statement)
        self._find_channel_params(module, set(factories))

    # ------------------------------------------------------------ names
    def qualified(self, node: cst.CSTNode | None) -> str | None:
        """What a name or attribute chain refers to: ``torch.nn.Linear``, ``math.log2``, ``builtins.int``,
        a top-level class or function of the reference; None for a local variable or an attribute of one."""
        base = node
        while isinstance(base, cst.Attribute):
            base = base.value
        if isinstance(base, cst.Call):  # torch.cat(...).reshape is a method of a result, not torch.cat.reshape
            return None
        names = self._names.get(node, ()) if node is not None else ()
        for name in names() if callable(names) else names:  # libcst resolves some entries lazily
            if name.source in (QualifiedNameSource.IMPORT, QualifiedNameSource.BUILTIN):
                return name.name
            if name.source is QualifiedNameSource.LOCAL and "." not in name.name:
                return name.name
        return None

    def spell(self, qualified: str) -> tuple[str, str | None]:
        """How the reference spells an imported module (``torch.nn`` may be ``nn``), and the import a
        mutant needs when the reference has none that reaches it."""
        reaching = [(local, target) for local, target in self.imports.items()
                    if qualified == target or qualified.startswith(target + ".")]
        if reaching:  # the closest import: nn.Linear rather than torch.nn.Linear
            local, target = max(reaching, key=lambda pair: len(pair[1]))
            return local + qualified[len(target):], None
        root = qualified.split(".")[0]
        return qualified, f"import {root}"

    # ------------------------------------------------------------ classes
    def _class(self, node: cst.ClassDef) -> ClassInfo:
        info = ClassInfo()
        for method in node.body.body:
            if not isinstance(method, cst.FunctionDef):
                continue
            names = [p.name.value for p in method.params.params]
            if method.name.value == "forward" and len(names) > 1:
                info.input_name = names[1]
            if method.name.value == "__init__":
                info.init_params = names[1:]
                for assign in find(method, cst.Assign):
                    target = assign.targets[0].target
                    if (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                            and target.value.value == "self" and isinstance(assign.value, cst.Call)):
                        info.submodules[target.attr.value] = assign.value
        return info

    def ctor(self, cls: str | None, attr: str) -> str | None:
        """What builds ``self.<attr>`` in class ``cls``: "torch.nn.Linear", "ChannelAttention", ..."""
        call = self.classes[cls].submodules.get(attr) if cls in self.classes else None
        return self.qualified(call.func) if call is not None else None

    def weighted(self, ctor: str | None) -> bool:
        """A submodule with parameters: a torch.nn layer with weights, or one of the reference's classes."""
        return bool(ctor) and (ctor in self.classes or (ctor.startswith("torch.nn.")
                                                        and ctor.rsplit(".", 1)[-1].startswith(("Linear", "Conv", "BatchNorm"))))

    def callers(self, scope: str) -> set[str]:
        """The classes whose code reaches ``scope`` (itself, if a class; else through the functions calling it)."""
        found, frontier, seen = set(), {scope}, set()
        while frontier:
            name = frontier.pop()
            seen.add(name)
            if name in self.classes:
                found.add(name)
            frontier |= {s for s, called in self.calls.items() if name in called and s not in seen}
        return found

    # ------------------------------------------------------------ the channel count
    def _find_channel_params(self, module: cst.Module, factories: set[str]) -> None:
        """Follow the factories' ``in_channel`` keyword into the classes they build, and from each
        class's parameter into the classes its __init__ builds."""
        carries: dict[str, set[str]] = {}  # a function's or class's local names that hold the channel count
        for statement in module.body:
            if isinstance(statement, cst.FunctionDef) and statement.name.value in factories:
                names = {p.name.value for p in (*statement.params.params, *statement.params.kwonly_params)}
                if "in_channel" in names:
                    carries[statement.name.value] = {"in_channel"}
        changed = True
        while changed:
            changed = False
            for statement in module.body:
                if not isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
                    continue
                holders = carries.get(statement.name.value, set())
                if not holders:
                    continue
                for call in find(statement, cst.Call):
                    cls = self.qualified(call.func)
                    param = self._parameter_receiving(cls, call, holders)
                    if param is not None and self.classes[cls].channel_param is None:
                        self.classes[cls].channel_param = param
                        carries.setdefault(cls, set()).add(param)
                        changed = True

    def _parameter_receiving(self, cls: str | None, call: cst.Call, holders: set[str]) -> str | None:
        if cls not in self.classes:
            return None
        params = self.classes[cls].init_params
        for position, arg in enumerate(call.args):
            if isinstance(arg.value, cst.Name) and arg.value.value in holders:
                if arg.keyword is not None:
                    return arg.keyword.value
                return params[position] if position < len(params) else None
        return None


def _imports(module: cst.Module) -> dict[str, str]:
    """The module-level imports: local name -> what it is bound to."""
    bound: dict[str, str] = {}
    for statement in module.body:
        for small in getattr(statement, "body", ()) if isinstance(statement, cst.SimpleStatementLine) else ():
            if isinstance(small, cst.Import):
                for alias in small.names:
                    dotted = cst.Module([]).code_for_node(alias.name)
                    local = alias.asname.name.value if alias.asname else dotted.split(".")[0]
                    bound[local] = dotted if alias.asname else local
            elif isinstance(small, cst.ImportFrom) and small.module is not None and not isinstance(small.names, cst.ImportStar):
                source = cst.Module([]).code_for_node(small.module)
                for alias in small.names:
                    local = alias.asname.name.value if alias.asname else alias.name.value
                    bound[local] = f"{source}.{alias.name.value}"
    return bound
