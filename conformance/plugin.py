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
    from .options import DEFAULT_TIMEOUT, PRECISIONS, PROFILES

    group = parser.getgroup("attncert", "attncert conformance certification")
    group.addoption("--impl", action="append", default=[], metavar="TARGET",
                    help="certify this implementation (adapter file, module or bundled name); repeatable")
    group.addoption("--impl-profile", default="ci", choices=tuple(PROFILES), help="attncert search profile")
    group.addoption("--impl-seed", type=int, default=0, help="attncert Hypothesis seed")
    group.addoption("--impl-spec", default=None, metavar="PATH", help="attncert spec file (default: bundled)")
    group.addoption("--impl-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                    help=f"per clause (default: {DEFAULT_TIMEOUT:g})")
    group.addoption("--impl-device", default="cpu", metavar="cpu|cuda|cuda:N", help="device the clauses run on")
    group.addoption("--impl-precision", default="strict", choices=tuple(PRECISIONS), help="float32 precision profile")
    group.addoption("--impl-runtime", default="eager", metavar="eager|compile|export|onnx",
                    help="certify the block as deployed: torch.compile, torch.export or ONNX + onnxruntime")


def run_options(config: pytest.Config):
    """The session's RunOptions, from the --impl-* options."""
    from .options import RunOptions, check_device
    from .runtimes import require
    from .spec import load_spec

    try:
        device = check_device(config.getoption("--impl-device"))
        spec = config.getoption("--impl-spec")
        options = RunOptions(profile=config.getoption("--impl-profile"), seed=config.getoption("--impl-seed"),
                             timeout=config.getoption("--impl-timeout"), device=device,
                             precision=config.getoption("--impl-precision"), runtime=config.getoption("--impl-runtime"),
                             **({"spec_path": spec} if spec else {}))
        require(load_spec(options.spec_path), options.runtime, device)
    except ValueError as err:  # a bad device, an unknown runtime, one this machine cannot use
        raise pytest.UsageError(str(err).replace("--device", "--impl-device").replace("--runtime", "--impl-runtime")) from None
    return options


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
    from .api import clause_params

    options = run_options(config)
    for target in targets:
        collector = TargetCollector.from_parent(session, name=target, params=clause_params(target, options=options))
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
