"""The child processes that import and exercise implementations.

``python -m conformance.worker zygote FD``: imports torch, Hypothesis and the engine once, then
waits on the control socket FD. For every ``fork`` request (carrying one end of a new socket pair)
it forks a worker, which starts serving at once with everything already imported: replacing a
worker that hung or crashed costs milliseconds, not a torch import. The zygote reports each
worker's pid and, when it ends, its exit status. It never runs torch code itself, so forking it
is safe; it needs ``os.fork`` (Linux). Elsewhere ``python -m conformance.worker serve FD`` starts
each worker afresh.

A worker reads requests (JSON lines) from its socket and answers with events: ``configure`` (the
run's options), ``inventory`` (import a target: what it provides, declares, and the environment),
``clause`` (run one task: events ``example`` while searching, then ``result``, a ClauseResult).
The implementation's own prints go to a log file, never into the protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import sys
import traceback
import warnings
from typing import Any

# distribution name -> import name of the libraries that bundled adapters wrap
LIBRARIES = {"torch": "torch", "torchvision": "torchvision", "timm": "timm", "monai": "monai",
             "fightingcv-attention": "fightingcv_attention"}


def _library_versions() -> dict[str, str]:
    """Versions of the wrapped libraries that the implementation actually imported (for the matrix)."""
    from importlib import metadata

    versions = {}
    for distribution, module in LIBRARIES.items():
        if module in sys.modules:
            try:
                versions[distribution] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                pass
    return versions


def machine(device: str) -> dict:
    """What the clauses run on, as the certificate's environment records it (imports torch)."""
    import platform

    import torch

    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = platform.processor() or platform.machine()
    return {"torch_build": torch.__version__, "cuda": torch.version.cuda if torch.cuda.is_available() else None,
            "device_name": name}


def _source(target: dict) -> dict:
    """The adapter's file and the SHA-256 of its source: which code a certificate is about."""
    import hashlib

    path = target.get("path") or getattr(sys.modules.get(target.get("module") or ""), "__file__", None)
    if not path:
        return {"path": None, "sha256": None}
    return {"path": path, "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest()}


class Worker:
    """One worker's state: the run's configuration and the adapters it has imported."""

    def __init__(self, stream):
        self.stream = stream
        self.options = None  # the run's RunOptions, from "configure"
        self.spec = None
        self.adapters: dict[str, Any] = {}

    def emit(self, **event) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def configure(self, options: dict) -> None:
        from .options import RunOptions
        from .spec import load_spec

        self.options = RunOptions.from_json(options)
        self.spec = load_spec(self.options.spec_path)

    def adapter(self, target: dict):
        from .targets import TargetRef, load_adapter

        key = json.dumps(target, sort_keys=True)
        if key not in self.adapters:
            if target.get("sys_path"):
                sys.path[:0] = [p for p in target["sys_path"] if p not in sys.path]
            ref = TargetRef(target["label"], target.get("path"), target.get("module"))
            self.adapters[key] = load_adapter(ref, self.spec)
        return self.adapters[key]

    def inventory(self, target: dict, trees: bool = False) -> None:
        from .spec import DomainError
        from .targets import TargetError

        try:
            adapter = self.adapter(target)
        except (DomainError, TargetError) as err:
            self.emit(event="error", message=f"{target['label']}: {err}")
            return
        except BaseException as err:  # the implementation failed to import
            self.emit(event="error", message=f"cannot import {target['label']}: {type(err).__name__}: {err}",
                      missing_dependency=isinstance(err, ModuleNotFoundError))
            return
        problem = self._device_problem()
        if problem:
            self.emit(event="error", message=problem, usage=True)
            return
        self.emit(event="inventory", provided=sorted(adapter.factories), declared=dict(adapter.variants),
                  domains={name: str(formula) for name, formula in adapter.domains.items()},
                  libraries=_library_versions(), source=_source(target),
                  environment={**machine(self.options.device), **({} if adapter.factories else {"defines": adapter.defines})},
                  classes=self._module_classes(adapter) if trees else {})

    def _module_classes(self, adapter) -> dict[str, list[str]]:
        """block -> the class names in the module its factory builds at the block's sample setting."""
        classes = {}
        for name, block in self.spec.blocks.items():
            if block.factory in adapter.factories:
                module = adapter.factories[block.factory](**block.sample_setting())
                classes[name] = sorted({type(m).__name__ for m in module.modules()})
        return classes

    def _device_problem(self) -> str | None:
        import torch

        device = self.options.device
        if not device.startswith("cuda"):
            return None
        if not torch.cuda.is_available():
            build = f"torch {torch.__version__} " + ("has CUDA " + torch.version.cuda if torch.version.cuda else "is a CPU-only build")
            return f"--device {device}: CUDA is not available on this machine ({build}, {torch.cuda.device_count()} GPUs visible)"
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            return f"--device {device}: there are only {torch.cuda.device_count()} CUDA devices (cuda:0..cuda:{torch.cuda.device_count() - 1})"
        return None

    def clause(self, request: dict) -> None:
        from .cases import Case
        from .engine import run_task
        from .results import Task

        target = request["target"]
        case = Case.from_counterexample(request["case"]) if request.get("case") is not None else None
        result = run_task(self.spec, self.adapter(target), target["identity"], Task.from_json(request["task"]),
                          self.options, case, on_example=lambda example: self.emit(event="example", case=example.counterexample()))
        self.emit(event="result", result=result.to_message())


def serve(fd: int) -> int:
    """A worker's life: answer requests from the parent until it closes the socket."""
    os.setsid()  # its own process group: the parent kills it and anything it started at once
    warnings.simplefilter("ignore")  # the implementation's warnings are not verdicts
    connection = socket.socket(fileno=fd)
    worker = Worker(connection.makefile("w", encoding="utf-8"))
    handlers = {
        "configure": lambda request: worker.configure(request["options"]),
        "inventory": lambda request: worker.inventory(request["target"], request.get("trees", False)),
        "clause": worker.clause,
    }
    worker.emit(event="ready", pid=os.getpid())
    for line in connection.makefile("r", encoding="utf-8"):
        request = json.loads(line)
        try:
            handlers[request["op"]](request)
        except BaseException:  # a bug in the harness, not a verdict: the parent reports it as such
            worker.emit(event="crash", message=traceback.format_exc())
            return 70
    return 0


def _redirect_output(log_path: str) -> None:
    """The implementation's prints (and any crash report) go to a file the parent reads after a death."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)


def zygote(control_fd: int) -> int:
    """Import everything a worker needs, then fork one per request (see the module docstring)."""
    import hypothesis  # noqa: F401  (imported here, once, for every worker)
    import torch  # noqa: F401

    from . import clauses, engine  # noqa: F401
    from .spec import load_spec

    load_spec()  # cached: every worker starts with the bundled spec loaded
    control = socket.socket(fileno=control_fd)  # a SOCK_SEQPACKET pair: one message per request
    control.sendall(b'{"event": "ready"}')
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([control], [], [], 0.05)
        while children:  # reap, and tell the parent how each worker ended
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            control.sendall(json.dumps({"event": "exit", "pid": pid, "status": code}).encode())
        if not ready:
            continue
        message, fds, _, _ = socket.recv_fds(control, 4096, 1)
        if not message:  # the parent is gone: so are its workers
            for pid in children:
                _kill_group(pid)
            return 0
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if request["cwd"]:  # the zygote outlives folder changes of the process it serves
                with contextlib.suppress(OSError):
                    os.chdir(request["cwd"])
            _redirect_output(request["log"])
            os._exit(serve(fds[0]))
        os.close(fds[0])
        children.add(pid)
        control.sendall(json.dumps({"event": "forked", "pid": pid, "token": request["token"]}).encode())


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str]) -> int:
    mode, fd = argv[0], int(argv[1])
    if mode == "zygote":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt means
        return zygote(fd)
    _redirect_output(argv[2])
    return serve(fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
