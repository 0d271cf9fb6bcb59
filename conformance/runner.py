"""The parent side of certification: drive worker processes, survive whatever they do, build the certificate.

The parent never imports torch or the implementation. A worker that hangs past the per-clause
timeout is killed; one that dies (exception at import, os._exit, segfault, out of memory) is
replaced; either way the clause it was running fails with the reason and the last example it was
on, and the remaining clauses run in a fresh worker.
"""

from __future__ import annotations

import json
import os
import platform
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from .certificate import BlockResult, Certificate, ClauseResult, RunResult
from .spec import DEFAULT_SPEC, Spec
from .targets import TargetError, TargetRef

DEFAULT_TIMEOUT = 120.0
STARTUP_TIMEOUT = 120.0  # importing torch and the implementation


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclass
class RunOptions:
    profile: str = "ci"
    seed: int = 0
    timeout: float = DEFAULT_TIMEOUT
    blocks: list[str] = field(default_factory=list)
    spec_path: Path = DEFAULT_SPEC
    database: str | None = ".attncert/examples"
    memory_limit: int | None = None
    case: dict | None = None  # replay exactly this case (reproduce)
    only: list[tuple[str, bool, str]] | None = None


def default_memory_limit() -> int:
    """Half the machine's memory, at most 16 GiB: an implementation that hogs memory fails, not the host."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 16 << 30
    return min(total // 2, 16 << 30)


def environment(options: RunOptions) -> dict:
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    torch_version = version("torch")
    return {
        "torch": torch_version.split("+")[0] if torch_version else None,
        "torch_build": torch_version,
        "python": platform.python_version(),
        "cuda": None,  # the worker reports it: the parent does not import torch
        "hypothesis": version("hypothesis"),
        "attncert": version("attncert"),
        "hypothesis_profile": options.profile,
        "seed": options.seed,
        "spec": str(options.spec_path),
        "platform": platform.platform(terse=True),
    }


def reproduce_command(ref: TargetRef, block: str, clause: str, variant: bool, case: dict, options: RunOptions) -> str:
    parts = ["attncert", "reproduce", ref.label, f"{block}::{clause}", "--case", json.dumps(case)]
    if variant:
        parts.append("--variant")
    if options.spec_path != DEFAULT_SPEC:
        parts += ["--spec", str(options.spec_path)]
    return shlex.join(parts)


class _Worker:
    """One child process and its event pipe."""

    def __init__(self, job: dict):
        read_fd, write_fd = os.pipe()
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "conformance.worker", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=self.log,
            stderr=self.log,
            pass_fds=(write_fd,),
            start_new_session=True,  # Ctrl-C reaches the parent only; the parent decides
            cwd=os.getcwd(),
            env={**os.environ, "PYTHONPATH": _package_root() + os.pathsep + os.environ.get("PYTHONPATH", "")},
        )
        os.close(write_fd)
        self.events = os.fdopen(read_fd, "r")
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(job).encode())
        self.process.stdin.close()

    def next_event(self, timeout: float) -> dict | None:
        """The next event, None at end of stream; TimeoutError when nothing arrives in time."""
        ready, _, _ = select.select([self.events], [], [], max(timeout, 0.0))
        if not ready:
            raise TimeoutError
        line = self.events.readline()
        if not line:
            return None
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return {"event": "garbage", "line": line[:200]}

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def exit_reason(self) -> str:
        code = self.process.wait()
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def output_tail(self, lines: int = 6) -> str:
        self.log.seek(0)
        text = self.log.read().decode(errors="replace").strip().splitlines()
        return "\n".join(text[-lines:])

    def close(self) -> None:
        self.events.close()
        self.log.close()


def _package_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


class Run:
    """One certification: a target, options, a spec; ``execute`` returns the certificate."""

    def __init__(self, ref: TargetRef, spec: Spec, options: RunOptions, progress: Callable[[str, dict], None] | None = None):
        self.ref, self.spec, self.options = ref, spec, options
        self.progress = progress or (lambda kind, data: None)
        self.tasks: list[dict] = []
        self.declared: dict = {}
        self.provided: list[str] | None = None
        self.results: list[dict] = []
        self.cuda: str | None = None

    def job(self) -> dict:
        return {
            "target": {"label": self.ref.label, "path": self.ref.path, "module": self.ref.module},
            "spec": str(self.options.spec_path),
            "blocks": self.options.blocks or list(self.spec.blocks),
            "profile": self.options.profile,
            "seed": self.options.seed,
            "database": self.options.database,
            "memory_limit": self.options.memory_limit if self.options.memory_limit is not None else default_memory_limit(),
            "done": [{k: r[k] for k in ("block", "variant", "clause")} for r in self.results],
            "case": self.options.case,
            "only": self.options.only,
        }

    def execute(self) -> Certificate:
        """Run every clause; raises TargetError (exit 2) when the target cannot be loaded at all."""
        while True:
            results_before = len(self.results)
            worker = _Worker(self.job())
            try:
                if self._drive(worker):
                    break
            finally:
                worker.kill()
                worker.close()
            if len(self.results) == results_before:
                raise TargetError(f"{self.ref.label}: the worker keeps dying before running any clause")
        return self.certificate(complete=True)

    def _drive(self, worker: _Worker) -> bool:
        """Consume one worker's events. True when the run is finished, False to start a new worker."""
        current: dict | None = None
        last_case: dict | None = None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                event = worker.next_event(deadline - time.monotonic())
            except TimeoutError:
                if current is None:
                    raise TargetError(f"{self.ref.label}: the implementation did not finish importing within {STARTUP_TIMEOUT:.0f} s")
                self._record_failure(current, f"no result within the {self.options.timeout:g} s timeout (hang or far too slow)", last_case)
                return False
            if event is None:  # the worker died
                reason = worker.exit_reason()
                tail = worker.output_tail()
                if self.provided is None:
                    raise TargetError(f"{self.ref.label}: the worker {reason} while importing the implementation" + (f":\n{tail}" if tail else ""))
                if current is None:
                    return not self._pending()
                self._record_failure(current, f"the implementation's process {reason} during this clause" + (f"; its last output: {tail.splitlines()[-1]}" if tail else ""), last_case)
                return False
            kind = event.get("event")
            if kind == "error":
                raise TargetError(event["message"])
            if kind == "plan":
                if self.provided is None:
                    self.tasks, self.declared, self.provided = event["tasks"], event["declared"], event["provided"]
                    self.cuda = event.get("cuda")
                    self.progress("plan", {"tasks": self.tasks, "provided": self.provided, "declared": self.declared})
            elif kind == "start":
                current, last_case = event, None
                deadline = time.monotonic() + self.options.timeout
                self.progress("start", event)
            elif kind == "example":
                last_case = event["case"]
            elif kind == "result":
                self.results.append(event)
                self.progress("result", event)
                current = None
                deadline = time.monotonic() + self.options.timeout
            elif kind == "done":
                return True

    def _pending(self) -> bool:
        done = {(r["block"], r["variant"], r["clause"]) for r in self.results}
        return any((t["block"], t["variant"], t["clause"]) not in done for t in self.tasks)

    def _record_failure(self, task: dict, message: str, case: dict | None) -> None:
        result = {k: task[k] for k in ("block", "variant", "clause")}
        result.update(status="fail", message=message, counterexample=case, details="", examples=0, seconds=0.0)
        self.results.append(result)
        self.progress("result", result)

    def certificate(self, complete: bool) -> Certificate:
        blocks: dict[str, BlockResult] = {}
        wanted = self.options.blocks or list(self.spec.blocks)
        for name in wanted:
            provided = self.provided is not None and self.spec.block(name).factory in self.provided
            result = BlockResult(provided=provided)
            if provided:
                for variant in (False, True):
                    expected = [t["clause"] for t in self.tasks if t["block"] == name and t["variant"] == variant]
                    if not expected:
                        continue
                    run = RunResult(expected)
                    for r in self.results:
                        if r["block"] == name and r["variant"] == variant:
                            run.clauses.append(self._clause_result(r))
                    if variant:
                        result.variant, result.declared = run, self.declared.get(name)
                    else:
                        result.plain = run
            blocks[name] = result
        return Certificate(self.ref.label, environment(self.options) | {"cuda": self.cuda}, blocks, complete)

    def _clause_result(self, r: dict) -> ClauseResult:
        case = r.get("counterexample")
        reproduce = None
        if r["status"] == "fail" and case is not None:
            reproduce = reproduce_command(self.ref, r["block"], r["clause"], r["variant"], case, self.options)
        return ClauseResult(r["clause"], r["status"], r.get("message", ""), case, reproduce,
                            r.get("examples", 0), r.get("seconds", 0.0), r.get("details", ""))
