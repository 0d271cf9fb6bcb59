"""Mutants of the reference: one per alternative at every operator's site, each a complete adapter
file with one change and a docstring saying what it breaks; the blocks each one can affect; the
fixed CI subset; their files and diffs."""

from __future__ import annotations

import ast
import difflib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import libcst as cst

from ..locations import IMPL_DIR
from . import operators  # noqa: F401  (registers the operators)
from .mutator import OPERATORS
from .scan import ReferenceScan

REFERENCE = IMPL_DIR / "reference.py"
SUBSET_SIZE = 56  # every operator and block, then more per operator: ~30 s with 2 workers


@dataclass
class Mutant:
    id: str
    operator: str
    scope: str
    description: str
    make: Callable[[], str] = field(repr=False)  # builds the source on first use (most runs need a subset)
    equivalent: str | None = None  # the operator's reason, when it knows
    blocks: list[str] = field(default_factory=list)
    _source: str | None = field(default=None, repr=False)

    @property
    def source(self) -> str:
        if self._source is None:
            self._source = self.make()
        return self._source


class _Replace(cst.CSTTransformer):
    """Replace one node, walking only the path to it."""

    def __init__(self, node, replacement, ancestors: frozenset[int]):
        super().__init__()
        self.node, self.replacement, self.ancestors = node, replacement, ancestors

    def on_visit(self, node) -> bool:
        return id(node) in self.ancestors

    def on_leave(self, original, updated):
        return self.replacement if original is self.node else updated


def _docstring(text: str) -> cst.SimpleStatementLine:
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return cst.SimpleStatementLine([cst.Expr(cst.SimpleString(f'"""{body}\n"""'))])


def _factories() -> list[str]:
    from ..spec import load_spec

    return [block.factory for block in load_spec().blocks.values()]


def generate(reference: Path = REFERENCE, only: Iterable[str] | None = None) -> list[Mutant]:
    """Every mutant of the reference (or ``only`` these ids), in operator and site order.

    Sites are found per top-level statement; a mutant's source is the reference's code with that
    statement regenerated (printing the whole module for each of some 300 mutants costs seconds).
    """
    module = cst.parse_module(Path(reference).read_text(encoding="utf-8"))
    scan = ReferenceScan(module, _factories())
    nodes = [*module.header, *module.body, *module.footer]
    parts = [module.code_for_node(node) for node in nodes]
    if "".join(parts) != module.code:
        raise RuntimeError("libcst does not print the reference statement by statement")
    first = len(module.header)
    wanted = set(only) if only is not None else None
    mutants = []
    for name, op in OPERATORS.items():
        counts: dict[str, int] = {}
        for position, statement in enumerate(module.body):
            if not isinstance(statement, (cst.ClassDef, cst.FunctionDef)):
                continue
            finder = op.finder(scan)
            statement.visit(finder)
            for site, replacement in zip(finder.sites, finder.replacements):
                counts[site.scope] = counts.get(site.scope, 0) + 1
                mutant_id = f"{name}-{site.scope}-{counts[site.scope]}"
                if wanted is not None and mutant_id not in wanted:
                    continue
                where = site.scope if site.method in ("", site.scope) else f"{site.scope}.{site.method}"
                text = f"{op.description}: in {where}, `{site.before}` -> `{site.after}`"

                def make(statement=statement, position=position, replacement=replacement, mutant_id=mutant_id, text=text,
                         imports=site.imports):
                    code = list(parts)
                    code[first + position] = module.code_for_node(statement.visit(_Replace(*replacement)))
                    if code[first + position] == parts[first + position]:
                        raise RuntimeError(f"{mutant_id} does not change the code")
                    doc = module.code_for_node(_docstring(f"Mutant {mutant_id} of attncert's reference implementation: {text}."))
                    doc += "".join(f"{line}\n" for line in imports)
                    if module.get_docstring() is not None:
                        code[first] = doc
                    else:
                        code.insert(first, doc)
                    return "".join(code)

                mutants.append(Mutant(mutant_id, name, site.scope, text, make, site.equivalent))
    return mutants


def affected_blocks(mutants: list[Mutant], classes: dict[str, list[str]], reference: Path = REFERENCE) -> None:
    """Set each mutant's blocks: those (in spec order) whose module tree (``classes``: block -> the
    class names in its factory's module) holds a class its change reaches."""
    scan = ReferenceScan(cst.parse_module(Path(reference).read_text(encoding="utf-8")), _factories())
    for mutant in mutants:
        reached = scan.callers(mutant.scope)
        mutant.blocks = [block for block, tree in classes.items() if reached & set(tree)]


def module_trees(reference: Path = REFERENCE) -> dict[str, list[str]]:
    """block -> the class names in the reference's module for it, built by a worker (torch stays there)."""
    from ..options import RunOptions
    from ..pool import Pool
    from ..targets import TargetRef

    with Pool(RunOptions(database=None), jobs=1) as pool:
        return pool.inventory(TargetRef("reference", str(reference)), trees=True).classes


def prepare(reference: Path = REFERENCE) -> list[Mutant]:
    """Every mutant with the blocks it affects. The blocks' module trees come from a worker, which
    imports torch while libcst works here."""
    with ThreadPoolExecutor(1) as background:
        generated = background.submit(generate, reference)
        classes = module_trees(reference)
        mutants = generated.result()
    affected_blocks(mutants, classes, reference)
    return mutants


def subset(mutants: list[Mutant]) -> list[Mutant]:
    """The fixed CI subset: rounds over the operators, each taking the operator's mutant (never a
    declared-equivalent one) whose blocks are least covered so far, the earliest on a tie, up to
    SUBSET_SIZE; then the first mutant of any block still uncovered. The same ids every run for an
    unchanged reference."""
    by_operator: dict[str, list[Mutant]] = {}
    for m in mutants:
        if m.equivalent is None and m.blocks:
            by_operator.setdefault(m.operator, []).append(m)
    position = {m.id: i for i, m in enumerate(mutants)}
    covered = {b: 0 for m in mutants for b in m.blocks}
    chosen: dict[str, Mutant] = {}
    while len(chosen) < min(SUBSET_SIZE, sum(map(len, by_operator.values()))):
        for group in by_operator.values():
            left = [m for m in group if m.id not in chosen]
            if left and len(chosen) < SUBSET_SIZE:
                pick = min(left, key=lambda m: (min(covered[b] for b in m.blocks), position[m.id]))
                chosen[pick.id] = pick
                for b in pick.blocks:
                    covered[b] += 1
    for block, count in covered.items():
        if not count:
            first = next(m for m in mutants if block in m.blocks)
            chosen[first.id] = first
    return sorted(chosen.values(), key=lambda m: position[m.id])


def write_mutants(mutants: list[Mutant], folder: Path) -> dict[str, Path]:
    """Each mutant as <folder>/<id>.py (the mutant files of earlier runs removed first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.py"):
        stale.unlink()
    paths = {}
    for mutant in mutants:
        path = folder / f"{mutant.id}.py"
        path.write_text(mutant.source, encoding="utf-8")
        paths[mutant.id] = path.resolve()
    return paths


def unified_diff(mutant: Mutant, reference: Path = REFERENCE) -> str:
    """The mutant's change against the reference, its docstring aside (reference line numbers)."""
    original = Path(reference).read_text(encoding="utf-8")

    def docstring_end(text: str) -> int:
        tree = ast.parse(text)
        return tree.body[0].end_lineno if ast.get_docstring(tree) is not None else 0

    mutated = original.splitlines()[:docstring_end(original)] + mutant.source.splitlines()[docstring_end(mutant.source):]
    return "\n".join(difflib.unified_diff(original.splitlines(), mutated, "impl/reference.py", f"{mutant.id}.py",
                                          n=1, lineterm=""))
