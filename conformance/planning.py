"""What a run will do: what a target provides (its ``Inventory``, found by a worker that imported
it) and the tasks that follow from it and the spec (``plan``)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable

from .results import Task
from .spec import Spec
from .targets import TargetRef


@dataclass
class Inventory:
    """What a target provides and declares, as its worker found on importing it."""

    provided: list[str]
    declared: dict[str, dict]
    domains: dict[str, str]
    libraries: dict[str, str]
    environment: dict[str, Any]
    source: dict[str, Any]
    classes: dict[str, list[str]] = field(default_factory=dict)  # block -> class names in its module, when asked

    def provides(self, spec: Spec, block: str) -> bool:
        return spec.block(block).factory in self.provided


def plan(spec: Spec, inventory: Inventory, blocks: Iterable[str]) -> list[Task]:
    """Every task to run, in spec order: each clause the spec declares for each provided block,
    and again under the adapter's declaration (variant and/or domain) where it has one."""
    from .clauses import clauses_for

    tasks = []
    for name in blocks:
        if not inventory.provides(spec, name):
            continue
        settings = (False, True) if name in inventory.declared or name in inventory.domains else (False,)
        for declared in settings:
            tasks += [Task(name, c.id, declared) for c in clauses_for(name, spec)]
    return tasks


def target_message(ref: TargetRef) -> dict:
    """How a worker finds the target, and the identity (not the spelling) that keys its example database."""
    identity = os.path.realpath(ref.path) if ref.path else f"module:{ref.module}"
    return {"label": ref.label, "path": ref.path, "module": ref.module, "identity": identity,
            "sys_path": [p for p in sys.path if p] if ref.module else []}
