"""What a run is made of and what it gives: a ``Task`` (one clause of one block under one setting)
and its ``ClauseResult``. Every layer passes these: the engine makes results, a worker sends them
to the parent as JSON (``to_message`` / ``from_message``, the one conversion), the pool makes its
own for a worker that hung or died, and the certificate stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

STATUSES = ("pass", "fail", "skip")


@dataclass(frozen=True)
class Task:
    """One clause of one block under one setting: the plain spec, or the adapter's declaration."""

    block: str
    clause: str
    declared: bool = False

    @property
    def id(self) -> str:
        return f"{self.block}::{self.clause}" + ("[variant]" if self.declared else "")

    def to_json(self) -> dict[str, Any]:
        return {"block": self.block, "clause": self.clause, "declared": self.declared}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Task":
        return cls(data["block"], data["clause"], bool(data.get("declared", False)))


@dataclass(frozen=True)
class ClauseResult:
    """How one task ended. ``counterexample`` is the failing case (a certificate's counterexample
    object); ``details`` the implementation's traceback where it raised; ``cause`` a reason shared
    with other clauses of the block (the constructor raised, ...); ``reproduce`` the command that
    replays the counterexample (set by the certification, which knows the target and options)."""

    task: Task
    status: str  # pass | fail | skip
    message: str = ""
    counterexample: dict | None = None
    details: str = ""
    examples: int = 0
    seconds: float = 0.0
    cause: str | None = None
    reproduce: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown clause status {self.status!r}")

    def with_(self, **changes) -> "ClauseResult":
        return replace(self, **changes)

    # ---------------------------------------------------------------- between worker and parent
    def to_message(self) -> dict[str, Any]:
        return {"task": self.task.to_json(), "status": self.status, "message": self.message,
                "counterexample": self.counterexample, "details": self.details, "examples": self.examples,
                "seconds": self.seconds, "cause": self.cause}

    @classmethod
    def from_message(cls, data: Mapping[str, Any]) -> "ClauseResult":
        return cls(Task.from_json(data["task"]), data["status"], data.get("message", ""), data.get("counterexample"),
                   data.get("details", ""), data.get("examples", 0), data.get("seconds", 0.0), data.get("cause"))

    # ---------------------------------------------------------------- in a certificate
    def to_json(self) -> dict[str, Any]:
        data = {"id": self.task.clause, "status": self.status, "message": self.message,
                "counterexample": self.counterexample, "reproduce": self.reproduce, "examples": self.examples,
                "seconds": round(self.seconds, 3)}
        if self.details:
            data["details"] = self.details
        if self.cause:
            data["cause"] = self.cause
        return data
