"""One certification: a target imported in a worker, its tasks planned and run on a pool, and the
certificate they make, with the environment it was made in and the commands that replay failures."""

from __future__ import annotations

import json
import shlex
from typing import Callable, Iterable

from .options import RunOptions
from .planning import Inventory, plan
from .pool import Pool
from .results import ClauseResult, Task
from .spec import DEFAULT_SPEC, Spec
from .targets import TargetError, TargetRef


class NothingToCertify(TargetError):
    """The target provides none of the blocks asked for: exit status 2."""


def environment(options: RunOptions, inventory: Inventory) -> dict:
    """The certificate's ``environment``: versions, where and how the clauses ran, the search."""
    import platform
    from importlib import metadata

    from .runtimes import RUNTIMES

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    found = inventory.environment
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
        "libraries": inventory.libraries,
        "runtime": options.runtime,
        **RUNTIMES[options.runtime].versions(),
    }


def reproduce_command(target: TargetRef | str, task: Task, case: dict, options: RunOptions) -> str:
    """A shell command that replays exactly one failing case, from any folder."""
    name = target.command_name if isinstance(target, TargetRef) else target
    parts = ["attncert", "reproduce", name, f"{task.block}::{task.clause}", "--case", json.dumps(case)]
    if task.declared:
        parts.append("--variant")
    if options.spec_path != DEFAULT_SPEC:
        parts += ["--spec", str(options.spec_path.resolve())]
    if options.device != "cpu":
        parts += ["--device", options.device]
    if options.precision == "tf32":
        parts.append("--tf32")
    elif options.precision.startswith("autocast-"):
        parts += ["--autocast", options.precision.split("-", 1)[1]]
    if options.runtime != "eager":
        parts += ["--runtime", options.runtime]
    return shlex.join(parts)


class Certification:
    """Certify one target: import it in a worker (unless its ``inventory`` is already known), plan
    its tasks, run them, build the certificate.

    The CLI, the Python API, ``replay`` and the selftest share it. ``results`` fills as tasks
    finish, so an interrupted run still yields an honest partial certificate.
    """

    def __init__(self, ref: TargetRef, spec: Spec, options: RunOptions, pool: Pool, inventory: Inventory | None = None):
        self.ref, self.spec, self.options, self.pool = ref, spec, options, pool
        self.inventory = inventory if inventory is not None else pool.inventory(ref)
        self.blocks = list(options.blocks) or list(spec.blocks)
        if not any(self.inventory.provides(spec, name) for name in self.blocks):
            self._nothing_to_certify()
        self.tasks = plan(spec, self.inventory, self.blocks)
        self.results: dict[Task, ClauseResult] = {}

    def _nothing_to_certify(self) -> None:
        have = [name for name in self.spec.blocks if self.inventory.provides(self.spec, name)]
        if self.options.blocks:
            asked = ", ".join(self.options.blocks)
            raise NothingToCertify(f"{self.ref.label} does not provide {asked} "
                                   f"(it provides: {', '.join(have) if have else 'none of the blocks'})")
        factories = ", ".join(f"{b.factory}(...)" for b in self.spec.blocks.values())
        defines = self.inventory.environment.get("defines") or []
        raise NothingToCertify(f"{self.ref.label} provides none of the factories {factories}"
                               + (f"; it defines: {', '.join(defines)}" if defines else "; it defines no public callables"))

    def run(self, case: dict | None = None, only: Iterable[Task] | None = None, stop_at_first_failure: bool = False,
            progress: Callable[[str, Task, ClauseResult | None], None] | None = None) -> None:
        """Run the planned tasks (or ``only`` these, in that order) into ``results``."""
        planned = set(self.tasks)
        tasks = self.tasks if only is None else [t for t in only if t in planned]
        self.pool.run(self.ref, tasks, case, self.results, stop_at_first_failure, progress)

    def certificate(self, complete: bool = True):
        from . import certificate

        results = {task: result.with_(reproduce=reproduce_command(self.ref, task, result.counterexample, self.options))
                   if result.status == "fail" and result.counterexample is not None else result
                   for task, result in self.results.items()}
        return certificate.build(self.ref.label, self.spec, self.blocks, self.inventory, self.tasks, results,
                                 environment(self.options, self.inventory), complete, self.options.runtime)
