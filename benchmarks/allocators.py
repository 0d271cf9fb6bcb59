"""Run the benchmark suite once per allocator setting, each in its own process, and compare.

    python -m benchmarks.allocators            # all shapes (a few minutes per setting on 2 cores)
    python -m benchmarks.allocators --quick    # the documents' shape only (BENCH_QUICK=1)
    python -m benchmarks.allocators --settings default,tcmalloc -- -k cbam   # extra pytest args after --

Settings: ``default`` (glibc malloc: every large tensor is a fresh mmap, page-faulted on first
touch), ``thp`` (``THP_MEM_ALLOC_ENABLE=1``: PyTorch aligns large CPU allocations to 2 MiB and
asks for transparent huge pages), ``tcmalloc`` (``libtcmalloc_minimal.so.4`` preloaded: freed
memory is kept and reused; skipped with a message when the library is not installed, Debian and
Ubuntu: ``apt-get install libtcmalloc-minimal4``; ``BENCH_TCMALLOC=/path/to/lib`` overrides the
search).

Writes ``benchmarks/results/<setting>.json`` (one process's ratio table), ``allocators.json`` and
``allocators.md`` (the settings side by side, with the issue's targets checked) and, after a full
run, copies the last two to ``docs/benchmarks.json`` and ``docs/benchmarks.md`` and draws
``docs/benchmarks.png`` (``--no-docs`` to keep docs/ as it is).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks import support

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs"
TCMALLOC = "libtcmalloc_minimal.so.4"
SETTINGS = ("default", "thp", "tcmalloc")
LABELS = {"default": "default", "thp": "THP_MEM_ALLOC_ENABLE=1", "tcmalloc": "tcmalloc"}


def find_tcmalloc() -> str | None:
    """The path of libtcmalloc_minimal.so.4, or None."""
    override = os.environ.get("BENCH_TCMALLOC")
    if override:
        return override if Path(override).is_file() else None
    try:
        listing = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    for line in listing.splitlines():
        if TCMALLOC in line and "=>" in line:
            path = line.split("=>", 1)[1].strip()
            if Path(path).is_file():
                return path
    for pattern in ("/usr/lib/*/", "/usr/lib64/", "/usr/lib/", "/usr/local/lib/", "/opt/homebrew/lib/"):
        hits = sorted(glob.glob(pattern + TCMALLOC))
        if hits:
            return hits[0]
    return None


def setting_env(name: str) -> dict[str, str] | str:
    """Environment additions for a setting, or why it cannot run here."""
    if name == "default":
        return {}
    if name == "thp":
        return {"THP_MEM_ALLOC_ENABLE": "1"}
    if name == "tcmalloc":
        path = find_tcmalloc()
        if path is None:
            return f"{TCMALLOC} not found (Debian/Ubuntu: apt-get install libtcmalloc-minimal4)"
        preload = os.environ.get("LD_PRELOAD")
        return {"LD_PRELOAD": f"{path}:{preload}" if preload else path}
    raise ValueError(name)


def run_setting(name: str, extra_env: dict, quick: bool, pytest_args: list[str]) -> tuple[int, Path]:
    """One pytest process for one setting; its output is shown and kept in results/<name>.log."""
    table = RESULTS / f"{name}.json"
    table.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("THP_MEM_ALLOC_ENABLE",)}
    env.update(extra_env, BENCH_TABLE_JSON=str(table), PYTHONUNBUFFERED="1")
    if quick:
        env["BENCH_QUICK"] = "1"
    command = [sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), "--benchmark-only", "-q",
               "-p", "no:cacheprovider", "--benchmark-columns=median,rounds", *pytest_args]
    print(f"\n=== {LABELS[name]}: {' '.join(f'{k}={v}' for k, v in extra_env.items()) or '(no changes)'}", flush=True)
    with open(RESULTS / f"{name}.log", "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        status = process.wait()
    return status, table


# ---------------------------------------------------------------- the side-by-side report
def side_by_side(rows: list[support.Row], settings: list[str]) -> str:
    """Markdown: per shape, one line per block, pass and implementation, one column per setting."""
    by = {(r.allocator, r.impl, r.block, r.pass_, r.shape): r for r in rows}
    impls = list(dict.fromkeys(r.impl for r in rows))
    labels = [LABELS[s] for s in settings]
    out = []
    for shape in sorted({r.shape for r in rows}, key=lambda s: (s == support.DOCUMENTS_SHAPE, s)):
        out += [f"### {support.shape_label(shape)} fp32", "",
                "| block | pass | floor | implementation | " + " | ".join(labels) + " |",
                "|---|---|---|---|" + "---:|" * len(labels)]
        for block in support.BLOCKS:
            for pass_ in support.PASSES:
                for impl in impls:
                    cells = [by.get((label, impl, block, pass_, shape)) for label in labels]
                    if any(cells):
                        out.append(f"| {block} | {pass_} | {support.floor_model(block, pass_)} | {impl} | "
                                   + " | ".join(support.cell(c) for c in cells) + " |")
        errors = sorted({f"{r.impl} {r.block} {r.pass_}: {r.error}" for r in rows if r.shape == shape and r.error})
        out += [""] + [f"- error: {e}" for e in errors] + ([""] if errors else [])
    return "\n".join(out)


def headline(rows: list[support.Row], settings: list[str]) -> str:
    """The forward ratios at the headline shape: implementation x block, one column per setting."""
    labels = [LABELS[s] for s in settings]
    by = {(r.allocator, r.impl, r.block): r for r in rows
          if r.shape == support.HEADLINE_SHAPE and r.pass_ == "forward"}
    impls = list(dict.fromkeys(r.impl for r in rows))
    lines = [f"Forward at {support.shape_label(support.HEADLINE_SHAPE)} fp32, ratio to the floor (lower is better):",
             "", "| block | implementation | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
    for block in support.BLOCKS:
        for impl in impls:
            cells = [by.get((label, impl, block)) for label in labels]
            if any(cells):
                lines.append(f"| {block} | {impl} | " + " | ".join(support.cell(c) for c in cells) + " |")
    return "\n".join(lines)


def targets(rows: list[support.Row]) -> list[tuple[str, bool | None, str]]:
    """The issue's targets for impl/fast.py at the headline shape, forward: (statement, met, numbers)."""
    fwd = {(r.allocator, r.impl, r.block): r.floor_ratio for r in rows
           if r.shape == support.HEADLINE_SHAPE and r.pass_ == "forward" and not r.error}
    allocators = sorted({a for a, _, _ in fwd})
    result = []
    if not any(impl == "fast" for _, impl, _ in fwd):
        return result
    best = {b: min(((fwd[a, "fast", b], a) for a in allocators if (a, "fast", b) in fwd), default=None)
            for b in ("se", "eca", "cbam")}
    for block, bound in (("se", 1.1), ("eca", 1.1), ("cbam", 1.5)):
        if best[block] is None:
            result.append((f"fast {block} forward <= {bound}x floor (best allocator)", None, "not measured"))
            continue
        ratio, allocator = best[block]
        result.append((f"fast {block} forward <= {bound}x floor (best allocator)", ratio <= bound,
                       f"{ratio:.2f}x under {allocator}"))
    peers = sorted({impl for _, impl, _ in fwd if impl != "fast"})
    for block, factor in (("cbam", 1.5), ("se", 1.0), ("eca", 1.0)):
        mine = fwd.get(("default", "fast", block))
        others = {p: fwd[("default", p, block)] for p in peers if ("default", p, block) in fwd}
        what = (f"default allocator: fast {block} beats every peer by >= {factor}x" if factor > 1
                else f"default allocator: fast {block} no slower than any peer")
        if mine is None or not others:
            result.append((what, None, "not measured (a peer that errors has no ratio)"))
            continue
        speedups = {p: r / mine for p, r in others.items()}
        detail = ", ".join(f"{p} {others[p]:.2f}x / fast {mine:.2f}x = {s:.2f}" for p, s in speedups.items())
        result.append((what, min(speedups.values()) >= factor, detail))
    return result


def report(rows: list[support.Row], settings: list[str], meta: dict) -> str:
    env = next(iter(meta.values()), {})
    lines = ["# attncert benchmarks: ratio to the memory floor", "",
             f"torch {env.get('torch')}, {env.get('threads')} threads, device {env.get('device')}; "
             "each benchmark's median over the median of its interleaved floor (benchmarks/support.py"
             " explains the floor: R = one read pass, RW = one read-and-write pass, preallocated).",
             "Regenerate: `python -m benchmarks.allocators` (plot: `python -m benchmarks.plot`).", ""]
    loads = [f"{LABELS[s]} {m['load_average_1min']:.1f}" for s, m in meta.items() if m.get("load_average_1min") is not None]
    if loads:
        lines += [f"1-minute load average when each setting finished (a busy machine inflates ratios): {', '.join(loads)}.", ""]
    lines += [headline(rows, settings), "", "## Targets for impl/fast.py", ""]
    for statement, met, detail in targets(rows):
        mark = {True: "met", False: "NOT met", None: "unknown"}[met]
        lines.append(f"- **{mark}**: {statement} ({detail})")
    skipped = {s: m["skipped"] for s, m in meta.items() if m.get("skipped")}
    lines += [""] + [f"- {LABELS[s]} not run: {why}" for s, why in skipped.items()]
    lines += ["", "## All shapes", "", side_by_side(rows, [s for s in settings if s not in skipped])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m benchmarks.allocators", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the documents' shape (BENCH_QUICK=1)")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated subset of " + ", ".join(SETTINGS))
    parser.add_argument("--no-docs", action="store_true", help="do not copy the results to docs/")
    args = parser.parse_args(argv)
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown setting(s) {unknown}; known: {', '.join(SETTINGS)}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    rows: list[support.Row] = []
    meta: dict[str, dict] = {}
    failed = []
    for name in settings:
        extra = setting_env(name)
        if isinstance(extra, str):
            print(f"\n=== {LABELS[name]}: skipped: {extra}", flush=True)
            meta[name] = {"skipped": extra}
            continue
        status, table = run_setting(name, extra, args.quick or os.environ.get("BENCH_QUICK", "0") not in ("", "0"), pytest_args)
        if status != 0 or not table.is_file():
            failed.append(f"{name} (pytest exit status {status}; log: {RESULTS / (name + '.log')})")
            continue
        env, found = support.read_json(table)
        if env["allocator"] != LABELS[name]:
            failed.append(f"{name}: the child process reported allocator {env['allocator']!r}")
            continue
        meta[name] = env
        rows += found

    text = report(rows, settings, meta)
    support.write_json(rows, RESULTS / "allocators.json", meta)
    (RESULTS / "allocators.md").write_text(text)
    print("\n" + text)
    print(f"written: {RESULTS / 'allocators.json'}, {RESULTS / 'allocators.md'}")
    quick = any(m.get("quick") for m in meta.values())
    if rows and not failed and not quick and not args.no_docs:
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(RESULTS / "allocators.json", DOCS / "benchmarks.json")
        shutil.copyfile(RESULTS / "allocators.md", DOCS / "benchmarks.md")
        print(f"copied to {DOCS / 'benchmarks.json'}, {DOCS / 'benchmarks.md'}")
        from benchmarks import plot

        try:
            print(f"plot: {plot.draw(DOCS / 'benchmarks.json', DOCS / 'benchmarks.png')}")
        except ImportError as err:
            print(f"no plot ({err}); pip install matplotlib, then python -m benchmarks.plot")
    for failure in failed:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
