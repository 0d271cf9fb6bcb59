"""``attncert stat``: the documents' torchstat tables, reproduced on pandas >= 2 and cross-checked.

The documents print ``torchstat.stat(model, input_size=[32, 16, 16])`` for SE, ECA and CBAM; this
prints the table of every block of the spec, compared with the documents' where the spec records
them (its ``figures``). The documents' call no longer works: torchstat 0.0.7's report uses ``DataFrame.append``, removed in pandas 2.0.
This module runs torchstat's own measuring path, ``ModelStat(model, input_size,
query_granularity=1)._analyze_model()``, on the reference implementation (impl/reference.py, whose
submodule names and order are the documents'), and builds the rows from the collected nodes itself:

- totals are real column sums (torchstat's total row takes MemRead/MemWrite from the last row only);
- every layer also gets the FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` counts, which
  include the Conv1d that torchstat skips (its convention: 2 FLOPs per multiply-accumulate);
- at the documents' input [32, 16, 16] every figure is compared with the spec's ``figures``; at
  any input the parameter count is compared with the spec's ``param_count`` formula.

``build_tables`` returns records for tests and tools; ``main_stat`` prints them. Importing this
module is cheap: torch, torchstat and the spec are loaded on first use.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import sys
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping


DOCUMENTED_INPUT = (32, 16, 16)
DOCUMENTED_TARGETS = ("reference", "tutorial")  # the bundled implementations of the documents' blocks
FIELDS = ("params", "madd", "flops", "memread", "memwrite")  # per-layer figures the documents print
TOTAL_FIELDS = ("params", "madd", "flops", "memrw")  # total figures the spec records

# Module types whose torchstat "Flops" are multiply-accumulates, so FlopCounterMode must count 2x.
_MAC_TYPES = ("Linear", "Conv2d")

NOTES = (
    "torchstat 0.0.7's stat() crashes on pandas >= 2 (its report calls DataFrame.append, removed in "
    "pandas 2.0). Workaround: attncert runs torchstat's measuring path, ModelStat(model, input_size, "
    "query_granularity=1)._analyze_model(), and builds the table from the collected nodes itself "
    "(torchstat's per-module prints are suppressed and the __call__ hooks it leaves on the layer "
    "classes are removed afterwards).",
    "torchstat's total row takes MemRead(B) and MemWrite(B) from the last row only (a leftover loop "
    "variable), which is why the documents' total rows show 0.0 for both (the last row, sigmoid, is "
    "not measured). Workaround: the 'total' row here holds real column sums; the 'torchstat total' "
    "row shows what torchstat itself would print. Its MemR+W(B) total is a real sum, so that figure "
    "matches the documents.",
    "torchstat has no formulas for Conv1d, AdaptiveAvgPool2d, AdaptiveMaxPool2d or Sigmoid: those "
    "rows show 0 MAdd, 0 Flops and 0 memory (marked '*'). ECA's only computing layer is a Conv1d, "
    "so torchstat reports ECA as free (0 MAdd, 0 Flops); its real cost is C * k multiply-adds.",
    "torchstat's conventions: MAdd counts multiplications plus additions (Linear: out * (2 * in - 1); "
    "Conv2d: (2 * k * k * Cin - 1) * Cout * H * W without bias); Flops counts multiply-accumulates "
    "(Linear: in * out; Conv2d: k * k * Cin * Cout * H * W), i.e. MACs; ReLU counts one per element.",
    "FlopCounter: torch.utils.flop_counter.FlopCounterMode over one forward pass (batch 1, as "
    "torchstat). It counts only matmul and convolution ops (also Conv1d), never elementwise ones "
    "(pooling, ReLU, sigmoid, the gating multiply), at 2 FLOPs per multiply-accumulate (2 * m * n * k "
    "for a matmul; every output position of a convolution, zero padding included), summed over all "
    "calls of the layer. 'FC check' verifies FlopCounter == 2 * Flops * calls on the Linear and "
    "Conv2d rows (torchstat's Flops are MACs, plus one per output where a Conv2d has a bias, which "
    "FlopCounterMode does not count; a Linear's bias torchstat does not count either); '-' where the "
    "two tools count different things.",
    "torchstat measures leaf modules only: parameters a block holds itself (Shuffle Attention's "
    "cweight, SGE's weight and bias) get a row '(parameters)' of their own, so the total is the "
    "block's parameter count.",
    "calls: how often the layer runs in one forward pass. torchstat keeps the figures of the last "
    "call only, so CBAM's shared MLP (fc1, fc2, relu: run on the max- and on the average-pooled "
    "vector) is counted once by torchstat and twice by FlopCounterMode.",
)


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class LayerRow:
    """One leaf module as torchstat measures it (batch 1), plus FlopCounterMode's count."""

    name: str
    kind: str  # the module's class name
    input_shape: tuple[int, ...]  # without the batch dimension, as torchstat prints it
    output_shape: tuple[int, ...]
    params: int
    memory_mb: float  # torchstat's memory(MB): output elements * 4 bytes
    madd: int
    flops: int
    memread: int  # bytes
    memwrite: int  # bytes
    counted: bool  # torchstat has formulas for this module type
    calls: int  # how often the layer ran in one forward pass
    flop_counter: int  # FlopCounterMode FLOPs, all calls together
    flop_counter_check: bool | None  # flop_counter == 2 * flops * calls (Linear/Conv2d rows), else None
    documented: Mapping[str, Any] | None = None  # the documents' row (spec figures), at their input
    doc_mismatches: tuple[str, ...] = ()  # fields that differ from the documents' row

    @property
    def memrw(self) -> int:
        return self.memread + self.memwrite

    @property
    def matches_documents(self) -> bool | None:
        return None if self.documented is None else not self.doc_mismatches


@dataclass(frozen=True)
class Totals:
    params: int
    madd: int
    flops: int
    memread: int
    memwrite: int
    memrw: int
    flop_counter: int | None = None


@dataclass(frozen=True)
class BlockTable:
    """A block's torchstat table at one input size, with its checks."""

    block: str
    title: str
    kwargs: Mapping[str, int]
    input_chw: tuple[int, int, int]
    rows: tuple[LayerRow, ...]
    totals: Totals  # real column sums
    torchstat_totals: Totals  # the total row as torchstat's report prints it (MemRead/MemWrite of the last row)
    flop_counter_total: int  # FlopCounterMode's total for the whole forward pass
    flop_counter_by_op: Mapping[str, int]
    spec_param_count: int  # the spec's param_count formula at these kwargs
    documented: Mapping[str, Any] | None = None  # the spec's figures, when input_chw is theirs
    doc_total_mismatches: tuple[str, ...] = ()
    doc_row_problems: tuple[str, ...] = ()  # layers missing, extra or out of order
    notes: tuple[str, ...] = field(default=())

    def row(self, name: str) -> LayerRow:
        return next(r for r in self.rows if r.name == name)

    @property
    def params_match_spec(self) -> bool:
        return self.totals.params == self.spec_param_count

    @property
    def flop_counter_ok(self) -> bool:
        return all(r.flop_counter_check is not False for r in self.rows) and self.flop_counter_total == sum(
            r.flop_counter for r in self.rows
        )

    @property
    def matches_documents(self) -> bool | None:
        if self.documented is None:
            return None
        return not (self.doc_total_mismatches or self.doc_row_problems or any(r.doc_mismatches for r in self.rows))

    @property
    def ok(self) -> bool:
        return self.params_match_spec and self.flop_counter_ok and self.matches_documents is not False


# ---------------------------------------------------------------- measuring
@functools.lru_cache(maxsize=1)
def _torchstat():
    """Import torchstat without keeping the pandas display options it sets globally on import."""
    try:
        import pandas as pd
    except ImportError:  # torchstat imports pandas itself; let that error speak
        pd = None
    names = ("display.width", "display.max_rows", "display.max_columns")
    saved = {n: pd.get_option(n) for n in names} if pd is not None else {}
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torchstat import ModelStat
    for name, value in saved.items():
        pd.set_option(name, value)
    return ModelStat


def _torchstat_nodes(model, input_chw: tuple[int, int, int]) -> tuple[list, str]:
    """torchstat's collected nodes (query_granularity=1) and what it printed while measuring.

    torchstat's ModelHook replaces ``__call__`` on every leaf module class and never puts it back,
    which would leave e.g. every nn.Linear in the process measuring itself; the classes are restored.
    """
    ModelStat = _torchstat()
    classes = {type(m) for m in model.modules() if not list(m.children())}
    missing = object()
    saved = {cls: cls.__dict__.get("__call__", missing) for cls in classes}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nodes = ModelStat(model, list(input_chw), query_granularity=1)._analyze_model()
    finally:
        for cls, original in saved.items():
            if original is missing:
                if "__call__" in cls.__dict__:
                    delattr(cls, "__call__")
            else:
                setattr(cls, "__call__", original)
    return nodes, printed.getvalue()


def _flop_counter(model, input_chw: tuple[int, int, int]) -> tuple[int, dict[str, int], dict[str, int], dict[str, int]]:
    """FlopCounterMode over one forward pass: total, per op, per leaf module name; and calls per module."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    calls: dict[str, int] = {}
    handles = []
    for name, module in model.named_modules():
        if not list(module.children()):  # the leaves (the model itself, for a block of one module)
            calls[name] = 0

            def hook(_module, _inputs, _output, name=name):
                calls[name] += 1

            handles.append(module.register_forward_hook(hook))
    try:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, *input_chw))
    finally:
        for handle in handles:
            handle.remove()
    counts = counter.get_flop_counts()
    root = type(model).__name__
    per_module = {name: int(sum(counts.get(f"{root}.{name}" if name else root, {}).values())) for name in calls}
    by_op = {str(op): int(n) for op, n in counts.get("Global", {}).items()}  # e.g. "aten.mm"
    return int(counter.get_total_flops()), by_op, per_module, calls


def _block_kwargs(block, input_chw: tuple[int, int, int]) -> tuple[dict[str, int], str]:
    """The spec's defaults, with the channel count from the input where the block takes one (a
    default that does not fit the input moved to the nearest value that does, with a note why).
    Raises ValueError when the block cannot take the input."""
    from .spec import DomainError

    try:
        return block.setting_for((1, *input_chw))
    except DomainError as err:
        raise ValueError(str(err)) from None


def _check_input(input_chw) -> tuple[int, int, int]:
    try:
        chw = tuple(input_chw)
    except TypeError:
        raise ValueError(f"the input size must be C,H,W, got {input_chw!r}") from None
    if len(chw) != 3 or not all(isinstance(d, int) and not isinstance(d, bool) for d in chw):
        raise ValueError(f"the input size must be three integers C,H,W, got {input_chw!r}")
    if min(chw) < 1:
        raise ValueError(f"C, H and W must be at least 1, got {list(chw)}")
    return chw  # type: ignore[return-value]


def parse_chw(text: str) -> tuple[int, int, int]:
    """``"32,16,16"`` (or ``"32x16x16"``, ``"[32, 16, 16]"``) -> (32, 16, 16); ValueError otherwise."""
    cleaned = text.strip().strip("[]()").replace("x", ",").replace("X", ",")
    parts = [p.strip() for p in cleaned.split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"--input takes C,H,W (three integers), got {text!r}") from None
    return _check_input(values)


def _build_block(block, input_chw: tuple[int, int, int], factory, compare: bool) -> BlockTable:
    """A block's table from ``factory`` at ``input_chw``; with the documents' figures when ``compare``."""
    kwargs, moved = _block_kwargs(block, input_chw)
    import torch

    # Building the modules and torchstat's random input draw from torch's global generator; the
    # figures do not depend on the values, and the caller's random state is left as it was. In
    # eval mode: the figures do not depend on the mode either, and BatchNorm in train mode cannot
    # take torchstat's batch of 1.
    with torch.random.fork_rng(devices=[]):
        nodes, printed = _torchstat_nodes(factory(**kwargs).eval(), input_chw)
        model = factory(**kwargs).eval()
        fc_total, fc_by_op, fc_per_module, calls = _flop_counter(model, input_chw)
    modules = dict(model.named_modules())
    unsupported = {line.split(":", 1)[1].split()[0] for line in printed.splitlines() if line.startswith("[") and ":" in line}

    documented = None
    if compare and block.figures is not None and tuple(block.figures["input"]) == input_chw:
        documented = block.figures
    doc_layers = {layer["name"]: layer for layer in documented["layers"]} if documented else {}

    rows = []
    for node in nodes:
        module = modules[node.name]
        kind = type(module).__name__
        memread, memwrite = (int(v) for v in node.Memory)
        flops = int(node.Flops)
        n_calls = calls.get(node.name, 0)
        fc = fc_per_module.get(node.name, 0)
        check = None
        if kind in _MAC_TYPES:  # torchstat adds one flop per output for a convolution's bias; FlopCounterMode counts none
            bias_adds = math.prod(node.output_shape) if kind == "Conv2d" and getattr(module, "bias", None) is not None else 0
            check = fc == 2 * (flops - bias_adds) * n_calls
        values = {
            "params": int(node.parameter_quantity),
            "madd": int(node.MAdd),
            "flops": flops,
            "memread": memread,
            "memwrite": memwrite,
        }
        doc_row = doc_layers.get(node.name)
        mismatches = tuple(f for f in FIELDS if doc_row is not None and doc_row.get(f) != values[f])
        rows.append(
            LayerRow(
                name=node.name,
                kind=kind,
                input_shape=tuple(int(d) for d in node.input_shape),
                output_shape=tuple(int(d) for d in node.output_shape),
                memory_mb=float(node.inference_memory),
                counted=kind not in unsupported,
                calls=n_calls,
                flop_counter=fc,
                flop_counter_check=check,
                documented=MappingProxyType(dict(doc_row)) if doc_row is not None else None,
                doc_mismatches=mismatches,
                **values,
            )
        )

    # parameters held by a module that has children (torchstat's leaves never show them)
    held = [(name, sum(p.numel() for p in module.parameters(recurse=False))) for name, module in modules.items()
            if list(module.children()) and next(module.parameters(recurse=False), None) is not None]
    rows[:0] = [LayerRow(name=f"{name}.(parameters)" if name else "(parameters)", kind="Parameter", input_shape=(),
                         output_shape=(), params=count, memory_mb=0.0, madd=0, flops=0, memread=0, memwrite=0,
                         counted=False, calls=0, flop_counter=0, flop_counter_check=None) for name, count in held]

    totals = Totals(
        params=sum(r.params for r in rows),
        madd=sum(r.madd for r in rows),
        flops=sum(r.flops for r in rows),
        memread=sum(r.memread for r in rows),
        memwrite=sum(r.memwrite for r in rows),
        memrw=sum(r.memrw for r in rows),
        flop_counter=sum(r.flop_counter for r in rows),
    )
    last = rows[-1] if rows else None
    torchstat_totals = Totals(
        params=totals.params,
        madd=totals.madd,
        flops=totals.flops,
        memread=last.memread if last else 0,
        memwrite=last.memwrite if last else 0,
        memrw=totals.memrw,
    )

    doc_total_mismatches: tuple[str, ...] = ()
    doc_row_problems: list[str] = []
    if documented is not None:
        doc_totals = documented["totals"]
        doc_total_mismatches = tuple(f for f in TOTAL_FIELDS if f in doc_totals and doc_totals[f] != getattr(totals, f))
        ours, theirs = [r.name for r in rows], [layer["name"] for layer in documented["layers"]]
        for name in theirs:
            if name not in ours:
                doc_row_problems.append(f"the documents' layer {name} is missing")
        for name in ours:
            if name not in theirs:
                doc_row_problems.append(f"layer {name} is not in the documents' table")
        if not doc_row_problems and ours != theirs:
            doc_row_problems.append(f"layer order {ours} differs from the documents' {theirs}")

    notes = [moved] if moved else []
    if "note" in (block.figures or {}):
        notes.append(str(block.figures["note"]))
    for r in rows:
        if r.kind == "Conv1d":
            k = modules[r.name].kernel_size[0]
            notes.append(
                f"{r.name} (Conv1d, kernel {k}): FlopCounterMode counts {r.flop_counter:,} = "
                f"2 * C * k = 2 * {input_chw[0]} * {k} FLOPs, where torchstat counts 0."
            )
        if r.calls > 1 and r.counted:
            notes.append(f"{r.name} runs {r.calls} times per forward pass; torchstat's row counts one call.")

    return BlockTable(
        block=block.name,
        title=block.title,
        kwargs=MappingProxyType(kwargs),
        input_chw=input_chw,
        rows=tuple(rows),
        totals=totals,
        torchstat_totals=torchstat_totals,
        flop_counter_total=fc_total,
        flop_counter_by_op=MappingProxyType(fc_by_op),
        spec_param_count=block.expected_param_count(block.env(kwargs)),
        documented=documented,
        doc_total_mismatches=doc_total_mismatches,
        doc_row_problems=tuple(doc_row_problems),
        notes=tuple(notes),
    )


def build_tables(input_chw, blocks=None, target: str | None = None) -> list[BlockTable]:
    """torchstat tables of a target's blocks (spec defaults, C from the input), in spec order: every
    block it provides, or the ``blocks`` named. The target is loaded in this process; by default the
    reference. The documents' figures are compared for the bundled reference and tutorial only (the
    documents' own code, and its clean rewrite).

    Raises ValueError for an input outside a block's domain (e.g. C < 4 with ratio 4),
    ``conformance.targets.TargetError`` for a target that cannot be loaded, and
    ``conformance.spec.SpecError`` for a spec that cannot be loaded.
    """
    chw = _check_input(input_chw)
    from .spec import load_spec
    from .targets import TargetError, bundled_targets, load_adapter, resolve

    spec = load_spec()
    ref = resolve(target or "reference")
    try:
        adapter = load_adapter(ref, spec)
    except TargetError:
        raise
    except Exception as err:  # the target failed to import
        raise TargetError(f"cannot import {ref.label}: {type(err).__name__}: {err}") from None
    compare = any(bundled_targets().get(name) == Path(ref.path or "") for name in DOCUMENTED_TARGETS)
    names = [n for n in blocks or spec.blocks if spec.block(n).factory in adapter.factories]
    if not names:
        raise TargetError(f"{ref.label} provides none of the blocks asked for")
    return [_build_block(spec.block(n), chw, adapter.factories[spec.block(n).factory], compare) for n in names]


# ---------------------------------------------------------------- printing
class _Marks:
    def __init__(self, out: typing.TextIO):
        encoding = getattr(out, "encoding", None) or "utf-8"
        try:
            "✓✗—·§".encode(encoding)
            unicode = True
        except (LookupError, UnicodeEncodeError):
            unicode = False
        self.encoding = None if unicode else encoding
        self.yes, self.no, self.dash, self.dot = ("✓", "✗", "—", "·") if unicode else ("ok", "X", "-", "*")

    def fit(self, text: str) -> str:
        """Text the output stream can encode (e.g. '§' from the spec on an ASCII terminal)."""
        if self.encoding is None:
            return text
        try:
            return text.encode(self.encoding, "replace").decode(self.encoding)
        except LookupError:
            return text.encode("ascii", "replace").decode("ascii")

    def flag(self, value: bool | None) -> str:
        return "-" if value is None else (self.yes if value else self.no)


def _n(value: int | float) -> str:
    return f"{value:,}"


def _shape(shape: tuple[int, ...]) -> str:
    return " ".join(str(d) for d in shape)


def _wrap(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` wrapped to ``width`` columns, never breaking a word; continued lines indented."""
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=subsequent or indent + "    ",
                         break_long_words=False, break_on_hyphens=False) or [indent]


def _render_block(table: BlockTable, marks: _Marks, width: int) -> list[str]:
    """A block's table, two lines a layer so that it fits ``width`` columns: the layer (shapes,
    parameters, calls, the documents' verdict), then its costs (torchstat's and FlopCounterMode's)."""
    kwargs = ", ".join(f"{k}={v}" for k, v in table.kwargs.items())
    documented = table.documented is not None
    lines = _wrap(f"{table.block.upper()} {marks.dash} {table.title}: {table.block}({kwargs})", width)
    for r in table.rows:
        name = (r.name or f"({r.kind})") + ("" if r.counted else " *")
        docs = ""
        if documented:
            if r.documented is None:
                docs = f"; documents: {marks.no} not in their table"
            elif r.doc_mismatches:
                docs = "; documents: " + marks.no + " " + ", ".join(f"{f} {r.documented[f]:,}" for f in r.doc_mismatches)
            else:
                docs = f"; documents: {marks.yes}"
        lines += _wrap(f"{name} ({r.kind}): {_shape(r.input_shape)} -> {_shape(r.output_shape)}, params {_n(r.params)}, "
                       f"calls {_n(r.calls)}{docs}", width, "  ")
        lines += _wrap(f"MAdd {_n(r.madd)}, Flops {_n(r.flops)}, MemRead {_n(r.memread)} B, MemWrite {_n(r.memwrite)} B, "
                       f"FlopCounter {_n(r.flop_counter)} {marks.flag(r.flop_counter_check)}", width, "      ")
    t, s = table.totals, table.torchstat_totals
    docs = f"; documents: {marks.flag(not table.doc_total_mismatches)}" if documented else ""
    lines += _wrap(f"total: params {_n(t.params)}, MAdd {_n(t.madd)}, Flops {_n(t.flops)}, MemRead {_n(t.memread)} B, "
                   f"MemWrite {_n(t.memwrite)} B, MemR+W {_n(t.memrw)} B, FlopCounter {_n(table.flop_counter_total)} "
                   f"{marks.flag(table.flop_counter_ok)}{docs}", width, "  ")
    lines += _wrap(f"torchstat's total row: MemRead {_n(s.memread)} B, MemWrite {_n(s.memwrite)} B (its last row's)",
                   width, "  ")
    if documented:
        d = table.documented["totals"]
        lines += _wrap(f"the documents' total: params {_n(d['params'])}, MAdd {_n(d['madd'])}, Flops {_n(d['flops'])}, "
                       f"MemR+W {_n(d['memrw'])} B", width, "  ")
    lines += _wrap(f"params {_n(t.params)} vs the spec's param_count formula {_n(table.spec_param_count)}: "
                   f"{marks.flag(table.params_match_spec)}", width)
    ops = ", ".join(f"{op} {_n(n)}" for op, n in table.flop_counter_by_op.items()) or "no matmul or convolution"
    lines += _wrap(f"FlopCounterMode total {_n(table.flop_counter_total)} FLOPs ({ops})", width)
    if documented:
        verdict = "all figures equal the documents'" if table.matches_documents else "DIFFERS from the documents"
        lines += _wrap(f"documents ({table.documented.get('source', 'spec figures')}): "
                       f"{marks.flag(table.matches_documents)} {verdict}", width)
        for field_name in table.doc_total_mismatches:
            lines += _wrap(f"total {field_name}: {_n(getattr(t, field_name))} here, "
                           f"{_n(table.documented['totals'][field_name])} in the documents", width, "  ")
        for problem in table.doc_row_problems:
            lines += _wrap(problem, width, "  ")
    for note in table.notes:
        lines += _wrap(f"note: {note}", width)
    return lines


def main_stat(input_chw: tuple[int, int, int] = DOCUMENTED_INPUT, out: typing.TextIO = sys.stdout,
              target: str | None = None, width: int = 80) -> int:
    """Print the torchstat tables of every block a target (by default the reference) provides at
    ``input_chw``, ``width`` columns wide.

    Exit status: 0 every figure checks out (the documents' figures at their input, for the bundled
    reference and tutorial; the spec's parameter counts; the FlopCounterMode cross-check); 1 some
    figure differs; 2 a bad input size or target, or an unusable spec.
    """
    from .spec import SpecError
    from .targets import TargetError

    try:
        chw = _check_input(input_chw)
        tables = build_tables(chw, target=target)
    except (ValueError, SpecError, TargetError) as err:
        print(f"attncert stat: error: {err}", file=out)
        return 2
    except ImportError as err:  # torchstat (or pandas, which it imports) missing
        print(f"attncert stat: error: {err} (attncert stat needs torchstat==0.0.7)", file=out)
        return 2
    marks = _Marks(out)
    documented = any(t.documented is not None for t in tables)
    lines = _wrap(f"attncert stat {marks.dash} torchstat 0.0.7 tables of {target or 'reference'} at input "
                  f"[C,H,W] = [{','.join(map(str, chw))}] (batch 1)", width) + [""]
    for table in tables:
        lines += _render_block(table, marks, width)
        lines.append("")
    lines.append("Notes")
    for i, note in enumerate(NOTES, 1):
        lines += _wrap(f"{i}. {note}", width, "", "   ")
    lines += _wrap(
        f"{len(NOTES) + 1}. '*' after a module name: torchstat does not measure that module type. "
        + (
            "documents: each row and total compared with the documents' torchstat tables (the spec's "
            "figures); the documents' total rows print no real MemRead/MemWrite sums (note 2)."
            if documented
            else f"The documents' figures are for the reference's and the tutorial's blocks at input "
            f"{list(DOCUMENTED_INPUT)}; here only the parameter counts are checked, against the spec's param_count formula."
        ), width, "", "   ")
    ok = all(t.ok for t in tables)
    lines.append("")
    if documented:
        same = all(t.matches_documents is not False for t in tables)
        lines.append(
            f"{marks.flag(ok)} "
            + ("every figure equals the documents'" if same else "some figures differ from the documents'")
            + ("" if all(t.flop_counter_ok and t.params_match_spec for t in tables) else "; some cross-checks fail")
        )
    else:
        lines.append(f"{marks.flag(ok)} " + ("parameter counts match the spec and FlopCounterMode agrees" if ok else "some cross-checks fail"))
    out.write(marks.fit("\n".join(lines) + "\n"))
    return 0 if ok else 1


__all__ = ["BlockTable", "LayerRow", "Totals", "build_tables", "main_stat", "parse_chw"]
