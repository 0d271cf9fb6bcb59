"""pytest plugin (entry point ``pytest11``): ``pytest --impl TARGET`` runs every clause as a test item.

Inert unless ``--impl`` is given; nothing heavy is imported at load time. Items are named
``block::clause`` (``block::clause[variant]`` under a declared variant), so ``-k`` selects at either
level, and collection is deterministic, so ``pytest-xdist -n auto`` distributes them.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("attncert", "attncert conformance certification")
    group.addoption("--impl", action="append", default=[], metavar="TARGET",
                    help="certify this implementation (adapter file, module or bundled name); repeatable")
    group.addoption("--impl-profile", default="ci", choices=("ci", "dev", "thorough"), help="attncert search profile")
    group.addoption("--impl-seed", type=int, default=0, help="attncert Hypothesis seed")
    group.addoption("--impl-spec", default=None, metavar="PATH", help="attncert spec file (default: bundled)")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    targets = config.getoption("--impl")
    if not targets:
        return
    from .api import clause_params

    for target in targets:
        for param in clause_params(target, spec_path=config.getoption("--impl-spec")):
            items.append(ClauseItem.from_parent(session, name=f"{target}::{param.id}", param=param,
                                                profile=config.getoption("--impl-profile"), seed=config.getoption("--impl-seed")))


class ClauseItem(pytest.Item):
    def __init__(self, *, param, profile: str, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.param, self.profile, self.seed = param, profile, seed

    def runtest(self) -> None:
        from .api import check

        check(self.param, profile=self.profile, seed=self.seed)

    def repr_failure(self, excinfo, style=None):
        from .api import ClauseFailed

        if isinstance(excinfo.value, ClauseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.param.target, None, f"attncert {self.param.id}"
