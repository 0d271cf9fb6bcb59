"""The suite's own bookkeeping: tables, targets, the runner's settings (no timing; skipped by --benchmark-only).

Run with ``pytest benchmarks/test_support.py``.
"""

from __future__ import annotations

import pytest

from benchmarks import allocators, support


def _row(impl, block, ratio, allocator="default", pass_="forward", shape=support.HEADLINE_SHAPE, error=None):
    return support.Row(impl=impl, block=block, pass_=pass_, shape=shape, allocator=allocator, threads=2,
                       device="cpu", floor_model=support.floor_model(block, pass_), floor_ratio=ratio, error=error)


def test_every_block_and_pass_has_a_floor():
    assert set(support.FLOOR_PASSES) == {(b, p) for b in support.BLOCKS for p in support.PASSES}
    assert support.floor_model("cbam", "forward") == "2R+1RW"


def test_rows_survive_json(tmp_path):
    rows = [_row("fast", "se", 1.25), _row("tutorial", "eca", None, error="RuntimeError: shape")]
    support.write_json(rows, tmp_path / "t.json", {"threads": 2})
    meta, back = support.read_json(tmp_path / "t.json")
    assert meta == {"threads": 2} and back == rows


def test_ratio_table_shows_ratios_and_errors():
    text = support.ratio_table([_row("fast", "se", 1.234), _row("tutorial", "eca", None, error="RuntimeError: x")])
    assert "1.23" in text and "error" in text and "tutorial eca forward: RuntimeError: x" in text


def test_targets_are_judged_from_the_rows():
    rows = [_row("fast", "se", 1.05, "tcmalloc"), _row("fast", "se", 2.0), _row("reference", "se", 3.0),
            _row("fast", "cbam", 1.6, "tcmalloc"), _row("fast", "cbam", 4.0), _row("reference", "cbam", 5.0),
            _row("fast", "eca", 2.0), _row("reference", "eca", 1.9), _row("tutorial", "eca", None, error="boom")]
    verdicts = {statement: met for statement, met, _ in allocators.targets(rows)}
    assert verdicts["fast se forward <= 1.1x floor (best allocator)"] is True
    assert verdicts["fast cbam forward <= 1.5x floor (best allocator)"] is False
    assert verdicts["fast eca forward <= 1.1x floor (best allocator)"] is False
    assert verdicts["default allocator: fast cbam beats every peer by >= 1.5x"] is False  # 5.0 / 4.0 = 1.25
    assert verdicts["default allocator: fast se no slower than any peer"] is True
    assert verdicts["default allocator: fast eca no slower than any peer"] is False  # the erroring peer is left out


def test_missing_tcmalloc_is_a_reason_not_a_crash(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_TCMALLOC", str(tmp_path / "absent.so"))
    why = allocators.setting_env("tcmalloc")
    assert isinstance(why, str) and "libtcmalloc-minimal4" in why
    assert allocators.setting_env("thp") == {"THP_MEM_ALLOC_ENABLE": "1"}


def test_settings_reject_unknown_blocks():
    with pytest.raises(ValueError, match="unknown block"):
        support.settings_from_env({"BENCH_BLOCKS": "se,nope"})
    quick = support.settings_from_env({"BENCH_QUICK": "1", "BENCH_DEVICE": "cpu"})
    assert quick.shapes == (support.DOCUMENTS_SHAPE,) and quick.threads == 2
