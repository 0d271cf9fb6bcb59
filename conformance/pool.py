"""The parent side of certification: a pool of worker processes that survives whatever they do.

The parent never imports torch or the implementation. It hands jobs (import a target: an
inventory; run a clause: a task) to workers, one at a time each, and enforces, per job, a
timeout; per pool, a memory limit on what the workers really use (their resident memory, watched
here: address space that CUDA or an allocator merely reserves costs nothing). A worker that hangs
or exceeds the limit is killed; one that dies (os._exit, segfault, the OOM killer) is replaced;
either way its job ends with the reason (a failing clause, with the last example it was on; or a
target that cannot be imported), and the remaining jobs run on. On Linux, workers are forked from
a zygote that has imported torch once (``conformance/worker.py``), so a replacement costs
milliseconds.

One event loop (``Pool.serve``) runs everything: a caller feeds it jobs as workers come free and
hears each job's outcome. An interrupt (SIGINT/SIGTERM, raised as ``Interrupted`` in the main
thread) stops the pool: the jobs in flight are left unfinished, never recorded as failures.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Union

from .options import RunOptions
from .planning import Inventory, target_message
from .results import ClauseResult, Task
from .targets import MissingDependency, TargetError, TargetRef

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


def default_memory_limit() -> int:
    """Half the machine's memory, at most 16 GiB: an implementation that hogs memory fails, not the host."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        total = 32 * GIB
    return min(total // 2, 16 * GIB)


@dataclass(frozen=True)
class Job:
    """One request to a worker: import ``target`` (``task`` None: its inventory, with each block's
    module classes when ``trees``), or run a task on it (replaying ``case`` when given)."""

    target: TargetRef
    task: Task | None = None
    case: dict | None = None
    trees: bool = False

    def request(self) -> dict:
        if self.task is None:
            return {"op": "inventory", "target": target_message(self.target), "trees": self.trees}
        return {"op": "clause", "target": target_message(self.target), "task": self.task.to_json(), "case": self.case}


Outcome = Union[ClauseResult, Inventory, TargetError]  # a clause's result; an inventory, or why there is none


# ---------------------------------------------------------------- worker processes


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
    """One worker: its socket, the thread that reads its events, the job it is on."""

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
        self.job: Job | None = None
        self.previous: Job | None = None  # the last job it was given
        self.deadline = 0.0
        self.last_case: dict | None = None
        self.killed_for: str | None = None  # why the pool killed it, if it did
        self.memory = _MemoryWatch(self.pid)
        threading.Thread(target=self._listen, daemon=True).start()
        self.send(op="configure", options=pool.options.to_json())

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
    """Worker processes for one run (or one pytest session): ``serve`` runs jobs on them;
    ``inventory`` and ``run`` are its two common uses."""

    def __init__(self, options: RunOptions, jobs: int | None = None):
        self.options = options
        self.jobs = max(1, jobs or min(2, os.cpu_count() or 1))
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

    def _retire(self, worker: _Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        worker.close()

    # ------------------------------------------------------------ the two common uses
    def inventory(self, ref: TargetRef, trees: bool = False) -> Inventory:
        """Import the target in a worker: what it provides and declares (and, with ``trees``, the class
        names in each block's module); TargetError when it cannot."""
        found: list[Outcome] = []
        jobs = [Job(ref, trees=trees)]
        self.serve(lambda previous: jobs.pop() if jobs else None, lambda job, outcome: found.append(outcome))
        if isinstance(found[0], TargetError):
            raise found[0]
        return found[0]

    def run(self, ref: TargetRef, tasks: Iterable[Task], case: dict | None = None,
            results: dict[Task, ClauseResult] | None = None, stop_at_first_failure: bool = False,
            progress: Callable[[str, Task, ClauseResult | None], None] | None = None) -> dict[Task, ClauseResult]:
        """Run the tasks (at most ``jobs`` at a time) into ``results``: each as the worker reported it,
        or the pool's own failure (timeout, memory, death). ``Interrupted`` leaves the rest unfinished
        (``results`` then holds what finished); so does ``stop_at_first_failure`` once a task fails
        (the tasks already running still finish). ``progress(kind, task, result)`` hears "start" and
        "result"."""
        pending = list(tasks)
        results = {} if results is None else results
        progress = progress or (lambda kind, task, result: None)

        def next_job(previous: Job | None) -> Job | None:
            if not pending or (stop_at_first_failure and any(r.status == "fail" for r in results.values())):
                return None
            job = Job(ref, pending.pop(self._affine(pending, previous)), case)
            progress("start", job.task, None)
            return job

        def done(job: Job, result: Outcome) -> None:
            results[job.task] = result
            progress("result", job.task, result)

        self.serve(next_job, done)
        return results

    def _affine(self, pending: list[Task], previous: Job | None) -> int:
        """Which pending task a free worker takes: one of the block it ran last, else of a block no
        other worker is on, else the first. A worker keeps what it built for a block (a deployed
        runtime's compiled graphs and exported artifacts cost seconds each) and no two build it twice."""
        last = previous.task.block if previous is not None and previous.task is not None else None
        taken = {w.job.task.block for w in self.workers if w.job is not None and w.job.task is not None}
        for wanted in (lambda t: t.block == last, lambda t: t.block not in taken):
            found = next((i for i, task in enumerate(pending) if wanted(task)), None)
            if found is not None:
                return found
        return 0

    # ------------------------------------------------------------ the event loop
    def serve(self, next_job: Callable[[Job | None], Job | None], done: Callable[[Job, Outcome], None]) -> None:
        """Run jobs until ``next_job`` has none and none is in flight; ``done(job, outcome)`` hears each
        as it ends. ``next_job(previous)`` is asked whenever a worker is free, with the job that worker
        ran last (None for a new one), so it may decide on what finished and keep related jobs together."""
        try:
            while True:
                while sum(1 for w in self.workers if w.job) < self.jobs:
                    worker = next((w for w in self.workers if w.job is None), None)
                    job = next_job(worker.previous if worker is not None else None)
                    if job is None:
                        break
                    self._start(job, worker)
                if not any(w.job for w in self.workers):
                    return
                self._step(done)
        except BaseException:
            for worker in list(self.workers):  # interrupted: the jobs in flight stay unfinished
                if worker.job is not None:
                    worker.kill("interrupted")
                    self._retire(worker)
            raise

    def _start(self, job: Job, worker: "_Worker | None") -> None:
        if worker is None:
            worker = _Worker(self)
            self.workers.append(worker)
        worker.job, worker.previous, worker.last_case = job, job, None
        worker.deadline = time.monotonic() + (STARTUP_TIMEOUT if job.task is None else self.options.clause_timeout)
        worker.send(**job.request())

    def _step(self, done: Callable[[Job, Outcome], None]) -> None:
        busy = [w for w in self.workers if w.job is not None]
        deadline = min((w.deadline for w in busy), default=time.monotonic() + 1)
        try:
            kind, source, event = self.events.get(
                timeout=max(0.0, min(deadline, time.monotonic() + MEMORY_POLL) - time.monotonic()))
        except queue.Empty:
            kind = None
        if kind == "eof":
            self._died(source, done)
        elif kind == "event" and source in self.workers:
            self._handle(source, event, done)
        self._watch()

    def _handle(self, worker: _Worker, event: dict, done: Callable[[Job, Outcome], None]) -> None:
        name, job = event.get("event"), worker.job
        if job is None:
            return
        if name == "example":
            worker.last_case = event["case"]
        elif name == "result":
            self._finish(worker, ClauseResult.from_message(event["result"]), done)
        elif name == "inventory":
            self._finish(worker, Inventory(event["provided"], event["declared"], event["domains"], event["libraries"],
                                           event["environment"], event.get("source", {}), event.get("classes", {})), done)
        elif name == "error":
            error = UsageProblem if event.get("usage") else MissingDependency if event.get("missing_dependency") else TargetError
            self._finish(worker, error(event["message"]), done)
        elif name == "crash":
            if job.task is None:
                self._finish(worker, TargetError(f"attncert failed while importing {job.target.label} (a bug in attncert):\n"
                                                 f"{event['message']}"), done)
            else:
                self._fail(worker, "attncert itself failed while running this clause (a bug in attncert, not in the "
                           f"implementation; please report it): {event['message'].strip().splitlines()[-1]}", done,
                           cause="attncert")
            self._retire(worker)

    def _watch(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers if w.job is not None and now > w.deadline]:
            if worker.job.task is None:
                worker.kill(f"{worker.job.target.label}: the implementation did not finish importing within "
                            f"{STARTUP_TIMEOUT:.0f} s")
            else:
                worker.kill(f"no result within the {self.options.clause_timeout:g} s timeout (hang or far too slow)")
        busy = [w for w in self.workers if w.job is not None and not w.killed_for]
        if busy and now >= self.memory_checked_at + MEMORY_POLL:  # not on every event: examples come fast
            self.memory_checked_at = now
            used = {w: w.memory.resident() for w in busy}
            if sum(used.values()) > self.memory_limit:
                hog = max(used, key=used.get)
                hog.kill(f"used {used[hog] / GIB:.1f} GiB of memory, over attncert's limit of "
                         f"{self.memory_limit / GIB:.1f} GiB for the implementation's processes (--memory-limit)")

    def _died(self, worker: _Worker, done: Callable[[Job, Outcome], None]) -> None:
        if worker not in self.workers:
            return
        job = worker.job
        if job is not None and job.task is None:
            if worker.killed_for:
                reason = worker.killed_for
            else:
                tail = worker.output_tail()
                reason = (f"{job.target.label}: the worker {_exit_reason(self._exit_status(worker))} while importing the "
                          "implementation" + (f":\n{tail}" if tail else ""))
            self._finish(worker, TargetError(reason), done)
        elif job is not None:
            if worker.killed_for:
                reason = worker.killed_for
            else:
                status = self._exit_status(worker)
                tail = worker.output_tail()
                last = f"; its last output: {tail.splitlines()[-1]}" if tail else ""
                reason = f"the implementation's process {_exit_reason(status)} during this clause{last}"
            self._fail(worker, reason, done, cause="process" if not worker.killed_for else None)
        self._retire(worker)

    def _exit_status(self, worker: _Worker) -> int | None:
        """How a dead worker ended: from the zygote that reaped it (or the process itself)."""
        if worker.process is not None:
            return worker.process.wait()
        return self.zygote.exit_status(worker.pid) if self.zygote is not None else None

    def _finish(self, worker: _Worker, outcome: Outcome, done: Callable[[Job, Outcome], None]) -> None:
        job, worker.job = worker.job, None
        done(job, outcome)

    def _fail(self, worker: _Worker, message: str, done: Callable[[Job, Outcome], None], cause: str | None = None) -> None:
        self._finish(worker, ClauseResult(worker.job.task, "fail", message, worker.last_case, cause=cause), done)
