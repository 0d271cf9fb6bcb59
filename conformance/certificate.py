"""The certificate (DESIGN §4): data model, verdicts, atomic JSON, Markdown."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ClauseResult:
    id: str
    status: str  # pass | fail | skip
    message: str = ""
    counterexample: dict | None = None
    reproduce: str | None = None
    examples: int = 0
    seconds: float = 0.0
    details: str = ""  # traceback, not part of the DESIGN contract but kept for replay/explain

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        if not self.details:
            del data["details"]
        return data


@dataclass
class RunResult:
    """The clauses of one block under one setting (the plain spec, or a declared variant)."""

    expected: list[str]  # clause ids the spec declares: a run with fewer results is not a pass
    clauses: list[ClauseResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        done = {c.id for c in self.clauses}
        if any(c.status == "fail" for c in self.clauses) or not set(self.expected) <= done:
            return "fail"
        return "pass"

    def first_failure(self) -> ClauseResult | None:
        return next((c for c in self.clauses if c.status == "fail"), None)


@dataclass
class BlockResult:
    provided: bool
    plain: RunResult | None = None
    declared: dict | None = None
    variant: RunResult | None = None

    @property
    def verdict(self) -> str:
        return "absent" if not self.provided or self.plain is None else self.plain.verdict

    def to_json(self) -> dict[str, Any]:
        if self.verdict == "absent":
            return {"verdict": "absent"}
        assert self.plain is not None
        data: dict[str, Any] = {"verdict": self.verdict, "variant": None}
        if self.declared is not None and self.variant is not None:
            data["variant"] = {
                "declared": self.declared,
                "verdict": self.variant.verdict,
                "clauses": [c.to_json() for c in self.variant.clauses],
            }
        data["clauses"] = [c.to_json() for c in self.plain.clauses]
        missing = [cid for cid in self.plain.expected if cid not in {c.id for c in self.plain.clauses}]
        if missing:
            data["not_run"] = missing
        return data


@dataclass
class Certificate:
    implementation: str
    environment: dict[str, Any]
    blocks: dict[str, BlockResult]
    complete: bool = True

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
            "environment": self.environment,
            "complete": self.complete,
            "summary": {name: b.verdict for name, b in self.blocks.items()} | {"clauses": counts},
            "blocks": {name: b.to_json() for name, b in self.blocks.items()},
        }


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


def write_json(certificate: Certificate, path: Path | str) -> None:
    write_atomically(path, json.dumps(certificate.to_json(), indent=2) + "\n")


def read_json(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(certificate: dict[str, Any]) -> str:
    """A Markdown report of a certificate (as loaded from JSON)."""
    env = certificate["environment"]
    lines = [
        f"# attncert certificate: `{certificate['implementation']}`",
        "",
        f"torch {env.get('torch')}, Python {env.get('python')}, CUDA {env.get('cuda') or 'none'}, "
        f"profile `{env.get('hypothesis_profile')}`, seed {env.get('seed')}"
        + ("" if certificate.get("complete", True) else " — **incomplete run**"),
        "",
        "| block | verdict | declared variant | clauses passed | first failure |",
        "|---|---|---|---|---|",
    ]
    for name, block in certificate["blocks"].items():
        if block["verdict"] == "absent":
            lines.append(f"| {name} | absent | | | |")
            continue
        clauses = block["clauses"]
        passed = sum(c["status"] == "pass" for c in clauses)
        failing = next((c for c in clauses if c["status"] == "fail"), None)
        variant = block.get("variant")
        variant_text = f"{variant['declared']} → {variant['verdict']}" if variant else ""
        first = f"`{failing['id']}`: {_cell(failing['message'][:160])}" if failing else ""
        lines.append(f"| {name} | **{block['verdict']}** | {_cell(variant_text)} | {passed}/{len(clauses)} | {first} |")
    for name, block in certificate["blocks"].items():
        runs = [("plain spec", block.get("clauses", []))]
        if block.get("variant"):
            runs.append((f"variant {block['variant']['declared']}", block["variant"]["clauses"]))
        for title, clauses in runs:
            failures = [c for c in clauses if c["status"] == "fail"]
            skips = [c for c in clauses if c["status"] == "skip"]
            if not failures and not skips:
                continue
            lines += ["", f"## {name} ({title})", ""]
            for c in failures:
                lines += [f"- **{c['id']}** failed: {_cell(c['message'])}"]
                if c.get("counterexample") is not None:
                    lines += [f"  - counterexample: `{json.dumps(c['counterexample'])}`"]
                if c.get("reproduce"):
                    lines += [f"  - reproduce: `{c['reproduce']}`"]
            for c in skips:
                lines += [f"- {c['id']} skipped: {_cell(c['message'])}"]
    return "\n".join(lines) + "\n"
