"""Session setup for the benchmark suite: fixed threads, a header that says how it ran, the ratio table.

Settings come from the environment (see benchmarks/support.py): ``BENCH_THREADS``, ``BENCH_QUICK``,
``BENCH_ROUNDS``, ``BENCH_IMPLS``, ``BENCH_BLOCKS``, ``BENCH_DEVICE``, ``BENCH_TABLE_JSON``.

The timed benchmarks run under ``--benchmark-only`` or when benchmarks/ is named on the command
line; a plain ``pytest`` whose testpaths include benchmarks/ skips them, so it stays quick.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from benchmarks import support

HERE = Path(__file__).resolve().parent


def pytest_configure(config):
    config._attncert_bench = support.settings_from_env()


def pytest_report_header(config):
    settings = config._attncert_bench
    env = support.environment(settings)
    return [
        f"attncert benchmarks: torch {env['torch']}, device {env['device']}, threads {settings.threads}"
        f" (BENCH_THREADS), allocator {env['allocator']}, {settings.warmup} warm-up + {settings.rounds} rounds per large shape,"
        f" shapes {', '.join(support.shape_label(s) for s in settings.shapes)}",
    ]


def _named_on_command_line(config) -> bool:
    for arg in config.invocation_params.args:
        if arg.startswith("-"):
            continue
        path = (config.invocation_params.dir / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config, items):
    if config.getoption("benchmark_only", False) or _named_on_command_line(config):
        return
    skip = pytest.mark.skip(reason="timed benchmark: run pytest --benchmark-only (or name benchmarks/)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents and "benchmark" in item.fixturenames:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _fixed_threads(pytestconfig):
    """Only the benchmarks' own tests see this: the thread count is theirs, not the whole session's."""
    before = torch.get_num_threads()
    torch.set_num_threads(pytestconfig._attncert_bench.threads)
    yield
    torch.set_num_threads(before)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    settings = getattr(config, "_attncert_bench", None)
    rows = support.RESULTS
    if settings is None or not rows:
        return
    env = support.environment(settings)
    terminalreporter.section(
        f"attncert floor ratios ({env['allocator']} allocator, {settings.threads} threads, {env['device']})"
    )
    terminalreporter.write_line(support.ratio_table(rows))
    target = os.environ.get("BENCH_TABLE_JSON")
    if target:
        support.write_json(rows, target, env)
        terminalreporter.write_line(f"ratio table written to {target}")


def pytest_collection_modifyitems(config, items):
    """Benchmarks run only under --benchmark-only, so plain `pytest` (the test suite) stays light."""
    if config.getoption("benchmark_only", False):
        return
    skip = pytest.mark.skip(reason="a benchmark: run with pytest --benchmark-only (or tox -e bench)")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)
