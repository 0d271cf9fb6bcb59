"""pytest plugin (entry point ``pytest11``): ``pytest --impl TARGET`` runs every clause as a test item.

Inert unless ``--impl`` is given; nothing heavy is imported at load time. Items are named
``TARGET::block::clause`` (``...[variant]`` under the adapter's declaration), so ``-k`` selects at
either level, and collection is deterministic, so ``pytest-xdist -n auto`` distributes them. The
clauses run in attncert's worker processes, as under ``attncert certify``: a forward that hangs
fails its item at ``--impl-timeout``, a crash fails the item, never the session.
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
    group.addoption("--impl-timeout", type=float, default=None, metavar="SECONDS", help="per clause (default: 120)")
    group.addoption("--impl-device", default="cpu", metavar="cpu|cuda|cuda:N", help="device the clauses run on")
    group.addoption("--impl-precision", default="strict", choices=("strict", "tf32", "autocast-bf16", "autocast-fp16"),
                    help="float32 precision profile")


class TargetCollector(pytest.Collector):
    """The clause items of one ``--impl`` target."""

    def __init__(self, *, params, **kwargs):
        super().__init__(**kwargs)
        self.params = params

    def collect(self):
        return [ClauseItem.from_parent(self, name=param.id, param=param) for param in self.params]


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they see these items
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    targets = config.getoption("--impl")
    if not targets:
        return
    from .api import Settings, clause_params
    from .runner import DEFAULT_TIMEOUT

    settings = Settings(config.getoption("--impl-profile"), config.getoption("--impl-seed"),
                        config.getoption("--impl-timeout") or DEFAULT_TIMEOUT, config.getoption("--impl-spec"),
                        config.getoption("--impl-device"), config.getoption("--impl-precision"))
    for target in targets:
        collector = TargetCollector.from_parent(session, name=target, params=clause_params(target, settings=settings))
        collected = collector.collect()
        # report them as collected, so "collected N items" and the deselected count add up
        config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, collected))
        items.extend(collected)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if session.config.getoption("--impl"):
        from .api import close_pools

        close_pools()


class ClauseItem(pytest.Item):
    def __init__(self, *, param, **kwargs):
        super().__init__(**kwargs)
        self.param = param

    def runtest(self) -> None:
        from .api import check

        check(self.param)

    def repr_failure(self, excinfo, style=None):
        from .api import ClauseFailed

        if isinstance(excinfo.value, ClauseFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.param.target, None, f"attncert {self.param.id}"
