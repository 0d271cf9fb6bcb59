"""The child process that imports and exercises an implementation (``python -m conformance.worker FD``).

It reads one job (JSON) from stdin and writes events, one JSON object per line, to file descriptor
FD, which the parent passed to it; the implementation's own prints go to stdout/stderr and cannot
corrupt the protocol. Events: ``plan``, ``start``, ``example``, ``result``, ``error``, ``done``.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import warnings


def _emit(stream, **event) -> None:
    stream.write(json.dumps(event) + "\n")
    stream.flush()


def _limit_memory(limit_bytes: int | None) -> None:
    if limit_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


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


def plan_tasks(spec, adapter, blocks: list[str]) -> tuple[list[dict], dict]:
    """Every (block, setting, clause) to run, in order; a declared variant gets a second run."""
    from .clauses import clauses_for

    tasks, declared = [], {}
    for name in blocks:
        block = spec.block(name)
        if block.factory not in adapter.factories:
            continue
        settings = [False]
        if name in adapter.variants:
            block.check_variant(adapter.variants[name])  # raises DomainError on unknown options
            declared[name] = adapter.variants[name]
            settings.append(True)
        for variant in settings:
            tasks += [{"block": name, "variant": variant, "clause": c.id} for c in clauses_for(name, spec)]
    return tasks, declared


def main() -> int:
    events = os.fdopen(int(sys.argv[1]), "w", buffering=1)
    job = json.loads(sys.stdin.read())
    _limit_memory(job.get("memory_limit"))
    warnings.simplefilter("ignore")  # the implementation's warnings are not verdicts

    from .cases import Case
    from .clauses import CLAUSES
    from .engine import run_one, run_search
    from .spec import DomainError, load_spec
    from .strategies import PROFILES
    from .subject import Subject
    from .targets import TargetRef, load_adapter

    spec = load_spec(job["spec"])
    ref = TargetRef(**job["target"])
    try:
        adapter = load_adapter(ref)
        tasks, declared = plan_tasks(spec, adapter, job["blocks"])
    except DomainError as err:
        _emit(events, event="error", message=f"{ref.label}: {err}")
        return 2
    except BaseException as err:  # the implementation failed to import
        _emit(events, event="error", message=f"cannot import {ref.label}: {type(err).__name__}: {err}",
              missing_dependency=isinstance(err, ModuleNotFoundError))
        return 2
    import torch

    cuda = torch.version.cuda if torch.cuda.is_available() else None
    _emit(events, event="plan", tasks=tasks, declared=declared, provided=sorted(adapter.factories), cuda=cuda,
          libraries=_library_versions())
    skip = {(t["block"], t["variant"], t["clause"]) for t in job.get("done", [])}
    only = {tuple(k) for k in job.get("only") or []}  # `attncert reproduce`: just these tasks
    profile = PROFILES[job["profile"]]
    for task in tasks:
        key = (task["block"], task["variant"], task["clause"])
        if key in skip or (only and key not in only):
            continue
        _emit(events, event="start", **task)
        block = spec.block(task["block"])
        subject = Subject(spec, block, adapter, declared.get(task["block"], {}) if task["variant"] else {})
        clause = CLAUSES[task["clause"]]
        if job.get("case") is not None:
            outcome = run_one(subject, clause, Case.from_counterexample(job["case"]))
        else:
            outcome = run_search(
                subject,
                clause,
                profile,
                job["seed"],
                job.get("database"),
                f"{ref.label}|{'/'.join(map(str, key))}",
                on_example=lambda case: _emit(events, event="example", case=case.counterexample()),
                shrink_budget=job.get("shrink_budget"),
            )
        _emit(
            events,
            event="result",
            **task,
            status=outcome.status,
            message=outcome.message,
            counterexample=outcome.case.counterexample() if outcome.case and outcome.status == "fail" else None,
            details=outcome.details,
            examples=outcome.examples,
            seconds=outcome.seconds,
        )
    _emit(events, event="done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
