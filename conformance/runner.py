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
import threading
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from .certificate import BlockResult, Certificate, ClauseResult, RunResult
from .spec import DEFAULT_SPEC, Spec
from .targets import MissingDependency, TargetError, TargetRef

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


def split_blocks(blocks: list[str], jobs: int) -> list[list[str]]:
    """Spread blocks over ``jobs`` workers, the heaviest (CBAM: two stages) first, round-robin."""
    cost = {"cbam": 3, "channel_attention": 2}
    ordered = sorted(blocks, key=lambda b: -cost.get(b, 1))
    groups = [ordered[i::jobs] for i in range(jobs)]
    return [g for g in groups if g]


class _Group:
    """The blocks one worker process handles, and what it has reported so far."""

    def __init__(self, run: "Run", blocks: list[str]):
        self.run, self.blocks = run, blocks
        self.tasks: list[dict] = []
        self.declared: dict = {}
        self.provided: list[str] | None = None
        self.cuda: str | None = None
        self.libraries: dict[str, str] = {}
        self.results: list[dict] = []
        self.worker: _Worker | None = None
        self.error: BaseException | None = None

    def job(self) -> dict:
        options = self.run.options
        return {
            "target": {"label": self.run.ref.label, "path": self.run.ref.path, "module": self.run.ref.module},
            "spec": str(options.spec_path),
            "blocks": self.blocks,
            "profile": options.profile,
            "seed": options.seed,
            "database": options.database,
            "memory_limit": options.memory_limit if options.memory_limit is not None else default_memory_limit(),
            "done": [{k: r[k] for k in ("block", "variant", "clause")} for r in self.results],
            "case": options.case,
            "only": options.only,
            # stop shrinking in time to report the failure before the parent's timeout kills the worker
            "shrink_budget": options.timeout * 0.5,
        }

    def execute(self) -> None:
        while True:
            results_before = len(self.results)
            self.worker = _Worker(self.job())
            try:
                if self._drive(self.worker):
                    return
            finally:
                self.kill()
            if len(self.results) == results_before:
                raise TargetError(f"{self.run.ref.label}: the worker keeps dying before running any clause")

    def execute_in_thread(self) -> None:
        try:
            self.execute()
        except BaseException as err:  # handed to the main thread, which reports it
            self.error = err

    def kill(self) -> None:
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.kill()
            worker.close()

    def _drive(self, worker: _Worker) -> bool:
        """Consume one worker's events. True when the run is finished, False to start a new worker."""
        timeout = self.run.options.timeout
        label = self.run.ref.label
        current: dict | None = None
        last_case: dict | None = None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                event = worker.next_event(deadline - time.monotonic())
            except TimeoutError:
                if current is None:
                    raise TargetError(f"{label}: the implementation did not finish importing within {STARTUP_TIMEOUT:.0f} s")
                self._record_failure(current, f"no result within the {timeout:g} s timeout (hang or far too slow)", last_case)
                return False
            except (OSError, ValueError):  # the pipe was closed under us: the run is being aborted
                return True
            if event is None:  # the worker died
                reason = worker.exit_reason()
                tail = worker.output_tail()
                if self.provided is None:
                    raise TargetError(f"{label}: the worker {reason} while importing the implementation" + (f":\n{tail}" if tail else ""))
                if current is None:
                    return not self._pending()
                last_line = f"; its last output: {tail.splitlines()[-1]}" if tail else ""
                self._record_failure(current, f"the implementation's process {reason} during this clause{last_line}", last_case)
                return False
            kind = event.get("event")
            if kind == "error":
                raise (MissingDependency if event.get("missing_dependency") else TargetError)(event["message"])
            if kind == "plan":
                if self.provided is None:
                    self.tasks, self.declared, self.provided = event["tasks"], event["declared"], event["provided"]
                    self.cuda = event.get("cuda")
                    self.libraries = event.get("libraries", {})
                    self.run.progress("plan", {"tasks": self.tasks, "provided": self.provided, "declared": self.declared})
            elif kind == "start":
                current, last_case = event, None
                deadline = time.monotonic() + timeout
                self.run.progress("start", event)
            elif kind == "example":
                last_case = event["case"]
            elif kind == "result":
                self.results.append(event)
                self.run.progress("result", event)
                current = None
                deadline = time.monotonic() + timeout
            elif kind == "done":
                return True

    def _pending(self) -> bool:
        done = {(r["block"], r["variant"], r["clause"]) for r in self.results}
        return any((t["block"], t["variant"], t["clause"]) not in done for t in self.tasks)

    def _record_failure(self, task: dict, message: str, case: dict | None) -> None:
        result = {k: task[k] for k in ("block", "variant", "clause")}
        result.update(status="fail", message=message, counterexample=case, details="", examples=0, seconds=0.0)
        self.results.append(result)
        self.run.progress("result", result)


class Run:
    """One certification: a target, options, a spec; ``execute`` returns the certificate.

    Blocks are spread over up to ``jobs`` worker processes (one per core by default, at most 2:
    each clause is single-threaded), driven from threads of this process.
    """

    def __init__(self, ref: TargetRef, spec: Spec, options: RunOptions,
                 progress: Callable[[str, dict], None] | None = None, jobs: int | None = None):
        self.ref, self.spec, self.options = ref, spec, options
        self.progress = progress or (lambda kind, data: None)
        blocks = options.blocks or list(spec.blocks)
        jobs = jobs or min(2, os.cpu_count() or 1)
        self.groups = [_Group(self, g) for g in split_blocks(blocks, jobs)]

    @property
    def provided(self) -> list[str] | None:
        return next((g.provided for g in self.groups if g.provided is not None), None)

    @property
    def results(self) -> list[dict]:
        return [r for g in self.groups for r in g.results]

    def execute(self) -> Certificate:
        """Run every clause; raises TargetError (exit 2) when the target cannot be loaded at all."""
        threads = [threading.Thread(target=g.execute_in_thread, daemon=True) for g in self.groups]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short joins: the main thread must stay responsive to signals
        except BaseException:
            self.abort()
            raise
        for group in self.groups:
            if group.error is not None:
                raise group.error
        return self.certificate(complete=True)

    def abort(self) -> None:
        for group in self.groups:
            group.kill()

    def certificate(self, complete: bool) -> Certificate:
        tasks = [t for g in self.groups for t in g.tasks]
        declared = {k: v for g in self.groups for k, v in g.declared.items()}
        results = self.results
        provided_factories = self.provided
        blocks: dict[str, BlockResult] = {}
        for name in self.options.blocks or list(self.spec.blocks):
            provided = provided_factories is not None and self.spec.block(name).factory in provided_factories
            result = BlockResult(provided=provided)
            for variant in (False, True) if provided else ():
                expected = [t["clause"] for t in tasks if t["block"] == name and t["variant"] == variant]
                if not expected:
                    continue
                run = RunResult(expected, [self._clause_result(r) for r in results
                                           if r["block"] == name and r["variant"] == variant])
                if variant:
                    result.variant, result.declared = run, declared.get(name)
                else:
                    result.plain = run
            blocks[name] = result
        cuda = next((g.cuda for g in self.groups if g.cuda), None)
        libraries = next((g.libraries for g in self.groups if g.libraries), {})
        return Certificate(self.ref.label, environment(self.options) | {"cuda": cuda, "libraries": libraries}, blocks, complete)

    def _clause_result(self, r: dict) -> ClauseResult:
        case = r.get("counterexample")
        reproduce = None
        if r["status"] == "fail" and case is not None:
            reproduce = reproduce_command(self.ref, r["block"], r["clause"], r["variant"], case, self.options)
        return ClauseResult(r["clause"], r["status"], r.get("message", ""), case, reproduce,
                            r.get("examples", 0), r.get("seconds", 0.0), r.get("details", ""))
