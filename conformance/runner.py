"""The parent side of certification: a pool of worker processes that survives whatever they do.

The parent never imports torch or the implementation. It hands tasks (block, clause, setting) to
workers, one at a time, and enforces, per task, a timeout; per pool, a memory limit on what the
workers really use (their resident memory, watched here: address space that CUDA or an allocator
merely reserves costs nothing). A worker that hangs or exceeds the limit is killed; one that dies
(os._exit, segfault, the OOM killer) is replaced; either way its task fails with the reason and the
last example it was on, and the remaining tasks run on. On Linux, workers are forked from a zygote
that has imported torch once (``conformance/worker.py``), so a replacement costs milliseconds.

An interrupt (SIGINT/SIGTERM, raised as ``Interrupted`` in the main thread) stops the pool: the
tasks in flight are left unfinished, never recorded as failures of the implementation.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .spec import DEFAULT_SPEC, Spec
from .targets import MissingDependency, TargetError, TargetRef

DEFAULT_TIMEOUT = 120.0
STARTUP_TIMEOUT = 120.0  # importing torch (zygote), or the implementation (inventory)
MEMORY_POLL = 0.05  # seconds between looks at the workers' resident memory
DESCENDANTS_POLL = 1.0  # seconds between looks for processes a worker started (a scan of every process: ~9 ms)
GIB = 1 << 30


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived; ``signum`` says which."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


class UsageProblem(TargetError):
    """The run cannot start as asked (e.g. --device cuda without CUDA): exit status 2."""


class NothingToCertify(TargetError):
    """The target provides none of the blocks asked for: exit status 2."""


@dataclass
class RunOptions:
    profile: str = "ci"
    seed: int = 0
    timeout: float = DEFAULT_TIMEOUT
    blocks: list[str] = field(default_factory=list)
    spec_path: Path = DEFAULT_SPEC
    database: str | None = ".attncert/examples"
    memory_limit: int | None = None  # bytes for all workers together; default: half the memory, at most 16 GiB
    device: str = "cpu"
    precision: str = "strict"  # strict | tf32 | autocast-bf16 | autocast-fp16

    def worker_config(self) -> dict:
        return {
            "spec": str(Path(self.spec_path).resolve()),
            "profile": self.profile,
            "seed": self.seed,
            "database": str(Path(self.database).resolve()) if self.database else None,
            "device": self.device,
            "precision": self.precision,
            # stop shrinking in time to report the failure before the timeout kills the worker
            "shrink_budget": self.timeout * 0.5,
        }


@dataclass(frozen=True)
class Task:
    """One clause of one block under one setting: the plain spec, or the adapter's declaration."""

    block: str
    clause: str
    declared: bool = False

    @property
    def id(self) -> str:
        return f"{self.block}::{self.clause}" + ("[variant]" if self.declared else "")

    def to_json(self) -> dict:
        return {"block": self.block, "clause": self.clause, "declared": self.declared}


@dataclass
class Inventory:
    """What a target provides and declares, as its worker found on importing it."""

    provided: list[str]
    declared: dict[str, dict]
    domains: dict[str, str]
    libraries: dict[str, str]
    environment: dict[str, Any]
    source: dict[str, Any]


def plan(spec: Spec, inventory: Inventory, blocks: Iterable[str]) -> list[Task]:
    """Every task to run, in spec order: each clause the spec declares for each provided block,
    and again under the adapter's declaration (variant and/or domain) where it has one."""
    from .clauses import clauses_for

    tasks = []
    for name in blocks:
        if spec.block(name).factory not in inventory.provided:
            continue
        settings = (False, True) if name in inventory.declared or name in inventory.domains else (False,)
        for declared in settings:
            tasks += [Task(name, c.id, declared) for c in clauses_for(name, spec)]
    return tasks


def default_memory_limit() -> int:
    """Half the machine's memory, at most 16 GiB: an implementation that hogs memory fails, not the host."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 32 * GIB
    return min(total // 2, 16 * GIB)


def target_message(ref: TargetRef) -> dict:
    """How a worker finds the target, and the identity (not the spelling) that keys its example database."""
    identity = os.path.realpath(ref.path) if ref.path else f"module:{ref.module}"
    return {"label": ref.label, "path": ref.path, "module": ref.module, "identity": identity,
            "sys_path": [p for p in sys.path if p] if ref.module else []}


# ---------------------------------------------------------------- worker processes
def _worker_environment() -> dict:
    root = str(Path(__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


class _Zygote:
    """The process that forks workers (Linux); see conformance/worker.py.

    One per process, shared by every pool (a pytest session, a replay, a loop over targets pay
    the torch import once); it ends when this process does (its control socket closes).
    """

    _shared: "_Zygote | None" = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> "_Zygote":
        with cls._shared_lock:
            if cls._shared is None or cls._shared.process.poll() is not None:
                cls._shared = cls()
            return cls._shared

    def __init__(self):
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.control = parent
        self.process = subprocess.Popen(
            [sys.executable, "-m", "conformance.worker", "zygote", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True, env=_worker_environment(),
        )
        child.close()
        self.forked: dict[str, "queue.Queue"] = {}
        self.lock = threading.Lock()
        self.exits: dict[int, int] = {}  # pid -> exit status (negative: killed by that signal)
        self.exited = threading.Condition()
        self.control.settimeout(STARTUP_TIMEOUT)
        try:
            ready = self.control.recv(4096)
        except (socket.timeout, OSError):
            ready = b""
        if not ready:
            self.process.kill()
            error = self.process.communicate()[1].decode(errors="replace").strip()
            raise TargetError("attncert's worker process could not start" + (f":\n{error[-2000:]}" if error else ""))
        self.control.settimeout(None)
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                message = self.control.recv(4096)
            except OSError:
                return
            if not message:
                return
            event = json.loads(message)
            if event["event"] == "forked":
                self.forked.pop(event["token"]).put(event["pid"])
            else:
                with self.exited:
                    self.exits[event["pid"]] = event["status"]
                    self.exited.notify_all()

    def exit_status(self, pid: int, timeout: float = 2.0) -> int | None:
        with self.exited:
            self.exited.wait_for(lambda: pid in self.exits, timeout)
            return self.exits.pop(pid, None)

    def fork(self, child_socket: socket.socket, log: str) -> int:
        """A new worker serving ``child_socket``, in this process's current folder; its pid."""
        token = os.urandom(8).hex()
        answer: queue.Queue = queue.Queue()
        try:
            cwd = os.getcwd()
        except OSError:  # the folder is gone: the worker stays where the zygote is
            cwd = None
        request = {"token": token, "log": log, "cwd": cwd}
        with self.lock:
            self.forked[token] = answer
            socket.send_fds(self.control, [json.dumps(request).encode()], [child_socket.fileno()])
        return answer.get(timeout=STARTUP_TIMEOUT)


class _MemoryWatch:
    """Resident memory of a worker and of the processes it started, cheap enough to read every poll."""

    def __init__(self, pid: int):
        self.pid = pid
        self.process = None
        self.descendants: list = []
        self.descendants_at = 0.0

    def resident(self) -> int:
        import psutil

        try:
            self.process = self.process or psutil.Process(self.pid)
            if time.monotonic() >= self.descendants_at:
                self.descendants = self.process.children(recursive=True)
                self.descendants_at = time.monotonic() + DESCENDANTS_POLL
            total = self.process.memory_info().rss
        except psutil.Error:  # it has ended
            return 0
        for process in self.descendants:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total


class _Worker:
    """One worker: its socket, the thread that reads its events, the task it is on."""

    def __init__(self, pool: "Pool"):
        self.pool = pool
        mine, theirs = socket.socketpair()
        fd, self.log = tempfile.mkstemp(prefix="attncert-worker-", suffix=".log")
        os.close(fd)
        self.process: subprocess.Popen | None = None
        if pool.zygote is not None:
            self.pid = pool.zygote.fork(theirs, self.log)
        else:  # no fork server on this platform: a fresh interpreter per worker
            self.process = subprocess.Popen(
                [sys.executable, "-m", "conformance.worker", "serve", str(theirs.fileno()), self.log],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=_worker_environment(),
            )
            self.pid = self.process.pid
        theirs.close()
        self.socket = mine
        # separate reader and writer: the reading thread must never share a buffer with the writer
        self.reader = mine.makefile("r", encoding="utf-8")
        self.writer = mine.makefile("w", encoding="utf-8")
        self.task: Task | None = None
        self.deadline = 0.0
        self.last_case: dict | None = None
        self.killed_for: str | None = None  # why the pool killed it, if it did
        self.exit_status: int | None = None
        self.memory = _MemoryWatch(self.pid)
        threading.Thread(target=self._listen, daemon=True).start()
        self.send(op="configure", config=pool.options.worker_config())

    def _listen(self) -> None:
        for line in self.reader:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"event": "garbage", "line": line[:200]}
            self.pool.events.put(("event", self, event))
        self.pool.events.put(("eof", self, None))

    def send(self, **request) -> None:
        try:
            self.writer.write(json.dumps(request) + "\n")
            self.writer.flush()
        except OSError:  # it died; its end of stream tells the pool
            pass

    def kill(self, why: str | None = None) -> None:
        self.killed_for = self.killed_for or why
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def output_tail(self, lines: int = 6) -> str:
        try:
            text = Path(self.log).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def close(self) -> None:
        self.kill()
        if self.process is not None:
            self.process.wait()
        for closable in (self.reader, self.writer, self.socket):
            try:
                closable.close()
            except OSError:
                pass
        Path(self.log).unlink(missing_ok=True)


def _exit_reason(status: int | None) -> str:
    if status is None:
        return "ended"
    if status < 0:
        return f"was killed by signal {signal.Signals(-status).name}"
    return f"exited with status {status}"


class Pool:
    """Worker processes for one run (or one pytest session); ``run`` executes tasks on them."""

    def __init__(self, options: RunOptions, jobs: int | None = None,
                 progress: Callable[[str, dict], None] | None = None):
        self.options = options
        self.jobs = max(1, jobs or min(2, os.cpu_count() or 1))
        self.progress = progress or (lambda kind, data: None)
        self.memory_limit = options.memory_limit or default_memory_limit()
        self.memory_checked_at = 0.0
        self.events: queue.Queue = queue.Queue()
        self.zygote = _Zygote.shared() if sys.platform.startswith("linux") else None
        self.workers: list[_Worker] = []

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        self.workers = []

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _worker(self) -> _Worker:
        worker = _Worker(self)
        self.workers.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        worker.close()

    # ------------------------------------------------------------ requests
    def inventory(self, ref: TargetRef) -> Inventory:
        """Import the target in a worker: what it provides and declares; TargetError when it cannot."""
        worker = self.workers[0] if self.workers else self._worker()
        worker.send(op="inventory", target=target_message(ref))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                kind, source, event = self._next_event(deadline)
            except queue.Empty:
                if time.monotonic() < deadline:
                    continue
                self._retire(worker)
                raise TargetError(f"{ref.label}: the implementation did not finish importing within {STARTUP_TIMEOUT:.0f} s") from None
            if source is not worker:
                continue
            if kind == "eof":
                status = self._exit_status(worker)
                tail = worker.output_tail()
                self._retire(worker)
                raise TargetError(f"{ref.label}: the worker {_exit_reason(status)} while importing the implementation"
                                  + (f":\n{tail}" if tail else ""))
            name = event.get("event")
            if name == "inventory":
                return Inventory(event["provided"], event["declared"], event["domains"], event["libraries"],
                                 event["environment"], event.get("source", {}))
            if name == "error":
                error = UsageProblem if event.get("usage") else MissingDependency if event.get("missing_dependency") else TargetError
                raise error(event["message"])
            if name == "crash":
                raise TargetError(f"attncert failed while importing {ref.label} (a bug in attncert):\n{event['message']}")

    def run(self, ref: TargetRef, tasks: Iterable[Task], case: dict | None = None,
            results: dict[Task, dict] | None = None, stop_at_first_failure: bool = False) -> dict[Task, dict]:
        """Run the tasks (at most ``jobs`` at a time) into ``results``: each as the worker reported it,
        or the pool's own failure (timeout, memory, death). ``Interrupted`` leaves the rest unfinished
        (``results`` then holds what finished); so does ``stop_at_first_failure`` once a task fails
        (the tasks already running still finish)."""
        pending = deque(tasks)
        results = {} if results is None else results
        target = target_message(ref)
        try:
            while pending or any(w.task for w in self.workers):
                if stop_at_first_failure and any(r["status"] == "fail" for r in results.values()):
                    pending.clear()
                while pending and sum(1 for w in self.workers if w.task) < self.jobs:
                    idle = next((w for w in self.workers if w.task is None), None) or self._worker()
                    task = pending.popleft()
                    idle.task, idle.last_case = task, None
                    idle.deadline = time.monotonic() + self.options.timeout
                    self.progress("start", task.to_json())
                    idle.send(op="clause", target=target, task=task.to_json(), case=case)
                self._step(results)
        except BaseException:
            for worker in list(self.workers):  # interrupted: the tasks in flight stay unfinished
                if worker.task is not None:
                    worker.kill("interrupted")
                    self._retire(worker)
            raise
        return results

    # ------------------------------------------------------------ the event loop
    def _next_event(self, deadline: float):
        return self.events.get(timeout=max(0.0, min(deadline, time.monotonic() + MEMORY_POLL) - time.monotonic()))

    def _step(self, results: dict[Task, dict]) -> None:
        busy = [w for w in self.workers if w.task is not None]
        deadline = min((w.deadline for w in busy), default=time.monotonic() + 1)
        try:
            kind, source, event = self._next_event(deadline)
        except queue.Empty:
            kind = None
        if kind == "eof":
            self._died(source, results)
        elif kind == "event" and source in self.workers:
            self._handle(source, event, results)
        self._watch(results)

    def _handle(self, worker: _Worker, event: dict, results: dict[Task, dict]) -> None:
        name = event.get("event")
        if name == "example":
            worker.last_case = event["case"]
        elif name == "result" and worker.task is not None:
            self._finish(worker, event, results)
        elif name == "crash" and worker.task is not None:
            self._fail(worker, "attncert itself failed while running this clause (a bug in attncert, not in the "
                       f"implementation; please report it): {event['message'].strip().splitlines()[-1]}", results, cause="attncert")
            self._retire(worker)

    def _watch(self, results: dict[Task, dict]) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers if w.task is not None and now > w.deadline]:
            worker.kill(f"no result within the {self.options.timeout:g} s timeout (hang or far too slow)")
        busy = [w for w in self.workers if w.task is not None and not w.killed_for]
        if busy and now >= self.memory_checked_at + MEMORY_POLL:  # not on every event: examples come fast
            self.memory_checked_at = now
            used = {w: w.memory.resident() for w in busy}
            if sum(used.values()) > self.memory_limit:
                hog = max(used, key=used.get)
                hog.kill(f"used {used[hog] / GIB:.1f} GiB of memory, over attncert's limit of "
                         f"{self.memory_limit / GIB:.1f} GiB for the implementation's processes (--memory-limit)")

    def _died(self, worker: _Worker, results: dict[Task, dict]) -> None:
        if worker not in self.workers:
            return
        if worker.task is not None:
            if worker.killed_for:
                reason = worker.killed_for
            else:
                status = self._exit_status(worker)
                tail = worker.output_tail()
                last = f"; its last output: {tail.splitlines()[-1]}" if tail else ""
                reason = f"the implementation's process {_exit_reason(status)} during this clause{last}"
            self._fail(worker, reason, results, cause="process" if not worker.killed_for else None)
        self._retire(worker)

    def _exit_status(self, worker: _Worker) -> int | None:
        """How a dead worker ended: from the zygote that reaped it (or the process itself)."""
        if worker.process is not None:
            return worker.process.wait()
        return self.zygote.exit_status(worker.pid) if self.zygote is not None else None

    def _finish(self, worker: _Worker, result: dict, results: dict[Task, dict]) -> None:
        task, worker.task = worker.task, None
        results[task] = result
        self.progress("result", result)

    def _fail(self, worker: _Worker, message: str, results: dict[Task, dict], cause: str | None = None) -> None:
        task = worker.task
        result = {**task.to_json(), "status": "fail", "message": message, "counterexample": worker.last_case,
                  "details": "", "examples": 0, "seconds": 0.0, "cause": cause}
        self._finish(worker, result, results)


# ---------------------------------------------------------------- one certification
def environment(options: RunOptions, inventory: Inventory | None) -> dict:
    """The certificate's ``environment``: versions, where and how the clauses ran, the search."""
    import platform
    from importlib import metadata

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    found = inventory.environment if inventory else {}
    build = found.get("torch_build") or version("torch")
    return {
        "torch": build.split("+")[0] if build else None,
        "torch_build": build,
        "python": platform.python_version(),
        "cuda": found.get("cuda"),
        "device": options.device,
        "device_name": found.get("device_name"),
        "tf32": options.precision == "tf32",
        "precision": options.precision,
        "hypothesis": version("hypothesis"),
        "hypothesis_profile": options.profile,
        "seed": options.seed,
        "spec": str(options.spec_path),
        "platform": platform.platform(terse=True),
        "libraries": inventory.libraries if inventory else {},
    }


def reproduce_command(label: str, task: Task, case: dict, options: RunOptions) -> str:
    """A shell command that replays exactly one failing case."""
    import shlex

    parts = ["attncert", "reproduce", label, f"{task.block}::{task.clause}", "--case", json.dumps(case)]
    if task.declared:
        parts.append("--variant")
    if options.spec_path != DEFAULT_SPEC:
        parts += ["--spec", str(options.spec_path)]
    if options.device != "cpu":
        parts += ["--device", options.device]
    if options.precision == "tf32":
        parts.append("--tf32")
    elif options.precision.startswith("autocast-"):
        parts += ["--autocast", options.precision.split("-", 1)[1]]
    return shlex.join(parts)


class Certification:
    """Certify one target: import it in a worker, plan its tasks, run them, build the certificate.

    The CLI, the Python API and ``replay`` share it. ``results`` fills as tasks finish, so an
    interrupted run still yields an honest partial certificate.
    """

    def __init__(self, ref: TargetRef, spec: Spec, options: RunOptions, pool: Pool):
        self.ref, self.spec, self.options, self.pool = ref, spec, options, pool
        self.inventory = pool.inventory(ref)
        self.blocks = options.blocks or list(spec.blocks)
        provided = [name for name in self.blocks if spec.block(name).factory in self.inventory.provided]
        if not provided:
            self._nothing_to_certify()
        self.tasks = plan(spec, self.inventory, self.blocks)
        self.results: dict[Task, dict] = {}

    def _nothing_to_certify(self) -> None:
        have = [name for name in self.spec.blocks if self.spec.block(name).factory in self.inventory.provided]
        if self.options.blocks:
            asked = ", ".join(self.options.blocks)
            raise NothingToCertify(f"{self.ref.label} does not provide {asked} "
                              f"(it provides: {', '.join(have) if have else 'none of the blocks'})")
        factories = ", ".join(f"{b.factory}(...)" for b in self.spec.blocks.values())
        defines = self.inventory.environment.get("defines") or []
        raise NothingToCertify(f"{self.ref.label} provides none of the factories {factories}"
                          + (f"; it defines: {', '.join(defines)}" if defines else "; it defines no public callables"))

    def run(self, case: dict | None = None, only: Iterable[Task] | None = None, stop_at_first_failure: bool = False) -> None:
        """Run the planned tasks (or ``only`` these, in that order) into ``results``."""
        tasks = self.tasks if only is None else [t for t in only if t in set(self.tasks)]
        self.pool.run(self.ref, tasks, case, self.results, stop_at_first_failure)

    def certificate(self, complete: bool = True, reproduce: bool = True):
        from . import certificate

        command = (lambda task, case: reproduce_command(self.ref.label, task, case, self.options)) if reproduce else None
        return certificate.build(self.ref.label, self.spec, self.blocks, self.inventory, self.tasks, self.results,
                                 environment(self.options, self.inventory), complete, command)
