"""The certificate: data model, verdicts, the one builder, atomic JSON, Markdown.

``build`` turns what a run did (its tasks, their results, what the target provides) into a
``Certificate``; the CLI, the Python API and ``replay`` all use it. A block's verdict is ``fail``
when a clause that ran failed, ``incomplete`` when the run stopped before every clause ran (never
``fail`` for that reason), ``pass`` otherwise, ``absent`` when the target does not provide it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from .results import ClauseResult

VERDICTS = ("pass", "fail", "incomplete", "absent")


@dataclass
class RunResult:
    """The clauses of one block under one setting (the plain spec, or the adapter's declaration)."""

    expected: list[str]  # clause ids the spec declares: a run with fewer results is not a pass
    clauses: list[ClauseResult] = field(default_factory=list)  # in planned order

    @property
    def missing(self) -> list[str]:
        done = {c.task.clause for c in self.clauses}
        return [cid for cid in self.expected if cid not in done]

    @property
    def verdict(self) -> str:
        if any(c.status == "fail" for c in self.clauses):
            return "fail"
        return "incomplete" if self.missing else "pass"


@dataclass
class BlockResult:
    provided: bool
    plain: RunResult | None = None
    declared: dict | None = None  # the adapter's VARIANTS entry
    domain: str | None = None  # the adapter's DOMAIN entry
    variant: RunResult | None = None  # the run under the declaration
    domain_note: str = ""  # e.g. that the declared domain excludes the documents' defaults
    deployed: dict | None = None  # under a runtime: what its artifacts were built from and what it excludes

    @property
    def verdict(self) -> str:
        return "absent" if not self.provided or self.plain is None else self.plain.verdict

    def to_json(self) -> dict[str, Any]:
        if self.verdict == "absent":
            return {"verdict": "absent"}
        assert self.plain is not None
        data: dict[str, Any] = {"verdict": self.verdict, "variant": None}
        if self.variant is not None:
            data["variant"] = {"declared": self.declared or {}, "domain": self.domain, "verdict": self.variant.verdict,
                               **({"note": self.domain_note} if self.domain_note else {}),
                               "clauses": [c.to_json() for c in self.variant.clauses]}
            if self.variant.missing:
                data["variant"]["not_run"] = self.variant.missing
        if self.deployed is not None:
            data["runtime"] = self.deployed
        data["clauses"] = [c.to_json() for c in self.plain.clauses]
        if self.plain.missing:
            data["not_run"] = self.plain.missing
        return data


@dataclass
class Certificate:
    implementation: str
    environment: dict[str, Any]
    blocks: dict[str, BlockResult]
    complete: bool = True
    path: str | None = None  # the adapter's file
    sha256: str | None = None  # of its source
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def __repr__(self) -> str:
        runtime = self.environment.get("runtime", "eager")
        verdicts = ", ".join(f"{name}={block.verdict}" for name, block in self.blocks.items() if block.verdict != "absent")
        return (f"Certificate({self.implementation!r}{'' if runtime == 'eager' else f', runtime={runtime!r}'}: "
                f"{verdicts or 'no block provided'}{'' if self.complete else ', incomplete'})")

    @property
    def exit_status(self) -> int:
        provided = [b for b in self.blocks.values() if b.verdict != "absent"]
        return 0 if provided and all(b.verdict == "pass" for b in provided) else 1

    def to_json(self) -> dict[str, Any]:
        counts = {"pass": 0, "fail": 0, "skip": 0}
        for block in self.blocks.values():
            for run in (block.plain, block.variant):
                for c in run.clauses if run else []:
                    counts[c.status] += 1
        return {
            "implementation": self.implementation,
            "path": self.path,
            "sha256": self.sha256,
            "attncert": attncert_version(),
            "time": self.time,
            "environment": self.environment,
            "complete": self.complete,
            "summary": {name: b.verdict for name, b in self.blocks.items()} | {"clauses": counts},
            "blocks": {name: b.to_json() for name, b in self.blocks.items()},
        }


def attncert_version() -> str | None:
    try:
        return metadata.version("attncert")
    except metadata.PackageNotFoundError:
        return None


def build(label: str, spec, blocks: Iterable[str], inventory, tasks, results: Mapping, environment: dict,
          complete: bool, runtime: str = "eager") -> Certificate:
    """The certificate of a run: ``tasks`` planned, their ``ClauseResult``s by task, ``inventory`` of
    the target (planning.Inventory), under ``runtime``."""
    by_block: dict[str, BlockResult] = {}
    for name in blocks:
        block = spec.block(name)
        result = BlockResult(provided=inventory.provides(spec, name))
        if runtime != "eager" and result.provided:
            result.deployed = _deployment(block, spec.runtime(runtime))
        for declared in (False, True):
            planned = [t for t in tasks if t.block == name and t.declared == declared]
            if not planned:
                continue
            run = RunResult([t.clause for t in planned], [results[t] for t in planned if t in results])
            if declared:
                result.variant = run
                result.declared = inventory.declared.get(name)
                result.domain = inventory.domains.get(name)
                result.domain_note = _domain_note(block, result.domain, result.declared)
            else:
                result.plain = run
        by_block[name] = result
    return Certificate(label, environment, by_block, complete, inventory.source.get("path"), inventory.source.get("sha256"))


def _deployment(block, runtime) -> dict:
    """A block's deployment: the settings its artifacts were built for and their trace inputs, and
    what the runtime excludes for every implementation (never certified, so said here)."""
    from .strategies import deployment_settings

    settings = deployment_settings(block)
    return {"name": runtime.name, "doc": runtime.doc,
            "artifacts": [{"setting": setting, "trace_input": list(runtime.trace_shape(channels))} for setting, channels in settings],
            "excluded": [{"where": f"not ({rule.check})", "why": rule.why} for rule in runtime.input_domain],
            **({"examples_per_clause": runtime.examples} if runtime.examples else {})}


def _domain_note(block, domain: str | None, declared: dict | None) -> str:
    """Whether a declared domain leaves out the documents' own default setting."""
    if not domain:
        return ""
    from .expr import Expr

    if Expr.parse(domain).evaluate(block.env(block.sample_setting(), declared or {})):
        return ""
    shown = ", ".join(f"{p.name}={p.default}" for p in block.params if p.default is not None)
    return f"the declared domain excludes the documents' defaults ({shown})"


def write_atomically(path: Path | str, text: str) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp's 0600 would make certificates private
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_writable(path: Path | str) -> str | None:
    """Why a file cannot be written there (checked before a long run), or None."""
    path = Path(path)
    if path.is_dir():
        return f"{path} is a folder"
    folder = path.parent
    while not folder.exists():  # it will be created: its nearest existing ancestor must be writable
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"cannot write in {folder}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} is not writable"
    return None


def write_json(certificate: Certificate, path: Path | str) -> None:
    write_atomically(path, json.dumps(certificate.to_json(), indent=2) + "\n")


def read_json(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
