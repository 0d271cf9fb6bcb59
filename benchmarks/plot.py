"""Draw the floor-ratio tables as a PNG: ``python -m benchmarks.plot [TABLE.json] [-o OUT.png]``.

Reads the JSON that ``python -m benchmarks.allocators`` writes (default: docs/benchmarks.json) or the
one a single ``pytest benchmarks --benchmark-only`` writes with ``BENCH_TABLE_JSON``. One panel per
shape and pass; bars per block, one per implementation and allocator; a log scale with the floor
(1.0) drawn in, so "how many floors" reads off directly. Error rows are marked with an x.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks import support

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = ROOT / "docs" / "benchmarks.json"
DEFAULT_PNG = ROOT / "docs" / "benchmarks.png"


def draw(table: Path | str, out: Path | str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter

    meta, rows = support.read_json(table)
    shapes = sorted({r.shape for r in rows}, key=lambda s: (s == support.DOCUMENTS_SHAPE, s))
    series = list(dict.fromkeys((r.impl, r.allocator) for r in rows))
    impls = list(dict.fromkeys(r.impl for r in rows))
    allocators = list(dict.fromkeys(r.allocator for r in rows))
    colours = plt.get_cmap("tab10")
    hatches = ["", "//", ".."]
    by = {(r.impl, r.allocator, r.block, r.pass_, r.shape): r for r in rows}

    fig, axes = plt.subplots(len(shapes), len(support.PASSES), figsize=(15, 3.6 * len(shapes)), squeeze=False)
    width = 0.8 / max(len(series), 1)
    for i, shape in enumerate(shapes):
        for j, pass_ in enumerate(support.PASSES):
            ax = axes[i][j]
            for k, (impl, allocator) in enumerate(series):
                xs, heights, failed = [], [], []
                for b, block in enumerate(support.BLOCKS):
                    row = by.get((impl, allocator, block, pass_, shape))
                    x = b - 0.4 + width * (k + 0.5)
                    if row is None:
                        continue
                    if row.error:
                        failed.append(x)
                    else:
                        xs.append(x)
                        heights.append(row.floor_ratio)
                ax.bar(xs, heights, width, color=colours(impls.index(impl)),
                       hatch=hatches[allocators.index(allocator) % len(hatches)], edgecolor="white", linewidth=0,
                       label=f"{impl}, {allocator}" if i == 0 and j == 0 else None)
                ax.plot(failed, [1.0] * len(failed), "x", color=colours(impls.index(impl)), markersize=9)
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
            ax.set_xticks(range(len(support.BLOCKS)), [b.replace("_attention", "") for b in support.BLOCKS])
            ax.set_title(f"{support.shape_label(shape)} fp32, {pass_}", fontsize=10)
            ax.set_ylabel("time / memory floor")
            ax.grid(axis="y", which="both", alpha=0.25)
    env = next((m for m in meta.values() if isinstance(m, dict) and "torch" in m), meta)
    fig.suptitle(f"attncert blocks: median time over the memory floor (torch {env.get('torch')}, "
                 f"{env.get('threads')} threads, {env.get('device')}); x: the implementation raised", fontsize=11)
    fig.legend(loc="lower center", ncol=min(len(series), 6), fontsize=8, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.04, 1, 0.97))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__.split("\n\n")[0])
    parser.add_argument("table", nargs="?", default=str(DEFAULT_TABLE), help="ratio table JSON (default: %(default)s)")
    parser.add_argument("-o", "--output", default=str(DEFAULT_PNG), help="PNG to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if not Path(args.table).is_file():
        parser.error(f"no table at {args.table}: run python -m benchmarks.allocators first")
    try:
        print(draw(args.table, args.output))
    except ImportError:
        print("matplotlib is needed: pip install matplotlib (or the project's [plot] extra)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
