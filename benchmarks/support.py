"""What the benchmark suite measures and against what: settings, shapes, implementations, the floor.

Performance is only ever reported as a ratio to a *memory floor* measured in the same run, round by
round, on the same input: absolute times on a shared machine are noise, but a block and a copy of
the same tensor slow down together.

The floor model
---------------
Every block is ``output = input * gate`` with a small gate, so on any device its cost is bounded
below by the full-size passes over memory that its data dependencies force. Two kinds of pass are
timed, each on preallocated buffers (no allocation, no page faults, which are the allocator's
cost, not the block's):

- **R**, a read pass: ``torch.mean(x, (2, 3), out=small)`` reads ``x`` once, writes almost nothing.
- **RW**, a read-and-write pass: ``out.copy_(x)`` into an existing ``out``.

How many of each a block's forward, and forward + backward, cannot avoid is spec data: the block's
``benchmark`` entry in ``spec/blocks.yaml``, with the reasoning beside it (SE: 1 R + 1 RW forward,
since the gate needs a global pool of ``x`` before any output can be written, then ``x * gate``
reads and writes once; 3 R + 2 RW with the backward, whose gate gradient reduces ``grad_out * x``
and whose input gradient reads ``grad_out`` and writes ``grad_x``).

An implementation can beat the floor (ratio < 1) only by keeping data in cache between passes;
every eager framework op is at least one pass, so ratios show how many passes (and allocations)
an implementation spends. At the documents' tiny shape everything is in cache and the ratio
measures per-call overhead instead.

Environment (read once per process):
``BENCH_THREADS`` (default 2) ``torch.set_num_threads``; ``BENCH_QUICK=1`` only the documents'
shape; ``BENCH_ROUNDS`` rounds per large-shape benchmark (default 5; 100 at the tiny shape);
``BENCH_WARMUP`` untimed rounds before them (default 5: a process that has just allocated a new
shape's inputs needs a few calls before the kernel has free 2 MiB pages at hand, and until then
huge-page faults stall on compaction; measured, fast.py's SE took 5-6x the floor for its first
five calls and 1.1-1.5x after);
``BENCH_IMPLS`` comma-separated bundled implementations (default: all that import);
``BENCH_BLOCKS`` comma-separated blocks; ``BENCH_DEVICE`` (default ``cuda`` when available, else
``cpu``); ``BENCH_TABLE_JSON`` a file to write the session's ratio table to.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from conformance.spec import load_spec

SPEC = load_spec()
BLOCKS = tuple(SPEC.blocks)  # the spec is the one list of blocks
PASSES = ("forward", "forward+backward")
DOCUMENTS_SHAPE = (1, 32, 16, 16)
LARGE_SHAPES = ((32, 256, 56, 56), (64, 512, 28, 28), (64, 2048, 7, 7))
HEADLINE_SHAPE = LARGE_SHAPES[0]

# Read passes and read-and-write passes of the floor, per block and pass: the spec's ``benchmark``.
FLOOR_PASSES = {(name, pass_): tuple(block.benchmark[pass_]) for name, block in SPEC.blocks.items()
                for pass_ in PASSES if block.benchmark is not None}


def block_kwargs(block: str, shape: tuple[int, int, int, int]) -> dict:
    """The spec's defaults (the documents': ratio 4, b 1, gamma 2, kernel 7), C from the input; a
    default that does not fit the input (Shuffle Attention's 64 groups at C = 32) moved to the
    nearest value that does, as attncert stat tabulates it."""
    return SPEC.block(block).setting_for(tuple(shape))[0]


def floor_model(block: str, pass_: str) -> str:
    reads, copies = FLOOR_PASSES[block, pass_]
    return f"{reads}R+{copies}RW"


# ---------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    threads: int
    quick: bool
    rounds: int
    warmup: int
    impls: tuple[str, ...] | None
    blocks: tuple[str, ...]
    device: str

    @property
    def shapes(self) -> tuple[tuple[int, int, int, int], ...]:
        return (DOCUMENTS_SHAPE,) if self.quick else (*LARGE_SHAPES, DOCUMENTS_SHAPE)

    def rounds_for(self, shape) -> int:
        return 100 if shape == DOCUMENTS_SHAPE else self.rounds


def _names(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


def settings_from_env(environ=os.environ) -> Settings:
    device = environ.get("BENCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    blocks = _names(environ.get("BENCH_BLOCKS")) or BLOCKS
    unknown = sorted(set(blocks) - set(BLOCKS))
    if unknown:
        raise ValueError(f"BENCH_BLOCKS: unknown block(s) {unknown}; known: {', '.join(BLOCKS)}")
    return Settings(
        threads=int(environ.get("BENCH_THREADS", "2")),
        quick=environ.get("BENCH_QUICK", "0") not in ("", "0"),
        rounds=int(environ.get("BENCH_ROUNDS", "5")),
        warmup=int(environ.get("BENCH_WARMUP", "5")),
        impls=_names(environ.get("BENCH_IMPLS")),
        blocks=blocks,
        device=device,
    )


def allocator_label() -> str:
    """Which allocator this process runs under, as the runner sets it up."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        maps = ""
    if "libtcmalloc" in maps:
        return "tcmalloc"
    if os.environ.get("THP_MEM_ALLOC_ENABLE") == "1":
        return "THP_MEM_ALLOC_ENABLE=1"
    return "default"


# ---------------------------------------------------------------- implementations
def bundled_implementations(wanted: tuple[str, ...] | None) -> tuple[dict, dict]:
    """``{name: module}`` of the bundled implementations that import, and ``{name: why}`` of the rest.

    An adapter whose library is not installed raises ImportError at import; it is left out.
    """
    from conformance.targets import bundled_targets, import_target, resolve

    names = list(bundled_targets())
    if wanted:
        missing = sorted(set(wanted) - set(names))
        if missing:
            raise ValueError(f"BENCH_IMPLS: no bundled implementation {missing}; bundled: {', '.join(names)}")
        names = [n for n in names if n in wanted]
    found, skipped = {}, {}
    for name in names:
        try:
            found[name] = import_target(resolve(name))
        except ImportError as err:
            skipped[name] = f"{type(err).__name__}: {err}"
    return found, skipped


# ---------------------------------------------------------------- the floor
class Floor:
    """The floor's passes on preallocated buffers for one input, timed each time it is called."""

    def __init__(self, x: torch.Tensor):
        self.x = x
        self.small = torch.empty(x.shape[:2], dtype=x.dtype, device=x.device)
        self.out = torch.empty_like(x)
        self.out.copy_(x)  # fault the buffer in now, not in the first timed pass

    def run(self, reads: int, copies: int) -> None:
        for _ in range(reads):
            torch.mean(self.x, (2, 3), out=self.small)
        for _ in range(copies):
            self.out.copy_(self.x)


# ---------------------------------------------------------------- results
@dataclass
class Row:
    impl: str
    block: str
    pass_: str
    shape: tuple[int, ...]
    allocator: str
    threads: int
    device: str
    floor_model: str
    floor_ratio: float | None = None
    median_s: float | None = None
    floor_median_s: float | None = None
    rounds: int = 0
    error: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["pass"] = data.pop("pass_")
        data["shape"] = list(self.shape)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Row":
        data = dict(data)
        data["pass_"] = data.pop("pass")
        data["shape"] = tuple(data["shape"])
        return cls(**data)


RESULTS: list[Row] = []


def shape_label(shape) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def cell(row: Row | None) -> str:
    if row is None:
        return "-"
    if row.error:
        return "error"
    return f"{row.floor_ratio:.2f}"


def ratio_table(rows: list[Row]) -> str:
    """Per shape: one line per block and pass, one column per implementation; errors listed below."""
    lines = []
    impls = list(dict.fromkeys(r.impl for r in rows))
    for shape in dict.fromkeys(r.shape for r in rows):
        at = {(r.impl, r.block, r.pass_): r for r in rows if r.shape == shape}
        lines.append(f"floor ratio (median / floor median) at {shape_label(shape)}")
        header = ["block", "pass", "floor"] + impls
        body = []
        for block in BLOCKS:
            for pass_ in PASSES:
                if any((i, block, pass_) in at for i in impls):
                    body.append([block, pass_, floor_model(block, pass_)] + [cell(at.get((i, block, pass_))) for i in impls])
        lines += _aligned(header, body)
        for r in at.values():
            if r.error:
                lines.append(f"  error: {r.impl} {r.block} {r.pass_}: {r.error}")
        lines.append("")
    return "\n".join(lines)


def _aligned(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header))]
    fmt = lambda row: "  ".join(str(v).ljust(w) if i < 3 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths)))
    return [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)]


def write_json(rows: list[Row], path: Path | str, meta: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"meta": meta, "rows": [r.to_json() for r in rows]}, indent=1))
    tmp.replace(path)


def read_json(path: Path | str) -> tuple[dict, list[Row]]:
    data = json.loads(Path(path).read_text())
    return data["meta"], [Row.from_json(r) for r in data["rows"]]


def environment(settings: Settings) -> dict:
    return {
        "torch": torch.__version__,
        "threads": settings.threads,
        "device": settings.device,
        "allocator": allocator_label(),
        "quick": settings.quick,
        "rounds": settings.rounds,
        "warmup": settings.warmup,
        "fast_hugepages": os.environ.get("ATTNCERT_FAST_HUGEPAGES", "1"),
        "fast_chunk_bytes": os.environ.get("ATTNCERT_FAST_CHUNK_BYTES", "default"),
        # A shared machine's other work moves every number; this says how busy it was.
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
