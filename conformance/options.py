"""How a run searches and where its clauses run: one record for the CLI, the pytest plugin, the API
and the selftest, and the one list of each kind of choice (profiles, precisions).

Light on purpose: the parent process and the pytest plugin read it without importing torch or
Hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from .locations import DEFAULT_SPEC, cache_folder

DEFAULT_TIMEOUT = 120.0  # seconds per clause


def default_database() -> str:
    """Hypothesis' example database of a run, unless ``--database`` says otherwise: in the user's cache."""
    return str(cache_folder() / "examples")


@dataclass(frozen=True)
class Profile:
    """How hard to search: examples per clause and the largest sizes drawn."""

    name: str
    max_examples: int
    max_channels: int
    max_side: int
    max_batch: int
    max_numel: int
    max_param_span: int  # how far from the default a small integer parameter may wander
    max_params: int  # the block's parameters (the spec's param_count): the float64 oracle holds several copies


PROFILES = {
    "ci": Profile("ci", max_examples=12, max_channels=1024, max_side=12, max_batch=4, max_numel=40_000, max_param_span=8,
                  max_params=1 << 22),
    "dev": Profile("dev", max_examples=60, max_channels=8192, max_side=24, max_batch=4, max_numel=200_000, max_param_span=16,
                   max_params=1 << 24),
    "thorough": Profile("thorough", max_examples=300, max_channels=16384, max_side=40, max_batch=4, max_numel=1_000_000,
                        max_param_span=32, max_params=1 << 24),
}


@dataclass(frozen=True)
class Precision:
    """How the implementation's matmuls and convolutions round (``--tf32``, ``--autocast``)."""

    name: str  # strict | tf32 | autocast-bf16 | autocast-fp16
    tf32: bool = False
    autocast: str | None = None  # dtype name that linear/conv run in under torch.autocast

    @property
    def autocast_dtype(self):
        import torch

        return getattr(torch, self.autocast) if self.autocast else None


PRECISIONS = {
    "strict": Precision("strict"),
    "tf32": Precision("tf32", tf32=True),
    "autocast-bf16": Precision("autocast-bf16", autocast="bfloat16"),
    "autocast-fp16": Precision("autocast-fp16", autocast="float16"),
}


def precision_name(tf32: bool = False, autocast: str | None = None) -> str:
    """The precision profile of the command line's ``--tf32`` / ``--autocast bf16|fp16``."""
    if tf32:
        return "tf32"
    return f"autocast-{autocast}" if autocast else "strict"


def check_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N``; ValueError otherwise."""
    if text == "cpu" or text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ValueError(f"--device must be cpu, cuda or cuda:N, not {text!r}")


# torch.compile builds a graph for every new dtype, layout, mode and autograd need, and with a
# convolution's backward for every new height and width: a correct Triplet Attention's input
# gradients took more than 120 s of compiling on a CPU core (none of it the block's own time)
TIMEOUT_SCALE = {"compile": 5}


@dataclass(frozen=True)
class RunOptions:
    """One run's settings. Frozen: a pytest session keeps one worker pool per distinct record."""

    profile: str = "ci"
    seed: int = 0
    timeout: float = DEFAULT_TIMEOUT
    blocks: tuple[str, ...] = ()  # empty: every block of the spec
    spec_path: Path = DEFAULT_SPEC
    database: str | None = field(default_factory=default_database)  # Hypothesis' example database; None: none
    memory_limit: int | None = None  # bytes for all workers together; default: half the memory, at most 16 GiB
    device: str = "cpu"
    precision: str = "strict"
    runtime: str = "eager"  # how the block is deployed: a runtime of the spec (eager, compile, export, onnx)
    shrink: bool = True  # shrink a failure to its minimal case (the selftest needs only a verdict)
    examples: int | None = None  # examples per clause; default: the profile's

    @property
    def clause_timeout(self) -> float:
        """Seconds a clause may take: ``timeout``, scaled for a runtime that compiles as it goes."""
        return self.timeout * TIMEOUT_SCALE.get(self.runtime, 1)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"unknown profile {self.profile!r} (known: {', '.join(PROFILES)})")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r} (known: {', '.join(PRECISIONS)})")
        check_device(self.device)
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "spec_path", Path(self.spec_path))

    def to_json(self) -> dict:
        """As a worker receives it, paths resolved here (where the user gave them)."""
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "blocks": list(self.blocks),
                "spec_path": str(self.spec_path.resolve()),
                "database": str(Path(self.database).resolve()) if self.database else None}

    @classmethod
    def from_json(cls, data: dict) -> "RunOptions":
        return cls(**data)
