"""What people read: a progress line while clauses run, then the report (terminal or Markdown).

Failures are grouped by cause: clauses that fail for one reason (the constructor raised, the
weights cannot be loaded, forward raised, or the same message) are named together, with the
smallest of their counterexamples as the shared minimal case and one command that replays it.
A skip reason that repeats on every block (no CUDA here) is said once, at the end.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .cases import Case
from .text import terminal_width, wrap, wrap_command

STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow", "absent": "dim", "incomplete": "yellow"}

console = Console(highlight=False, soft_wrap=False, width=terminal_width())
error_console = Console(stderr=True, highlight=False)


class Progress:
    """A progress bar over the run's clauses, with a running failure count (on stderr)."""

    def __init__(self, label: str, enabled: bool = True):
        self.label = label
        self.enabled = enabled and error_console.is_terminal
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(complete_style="cyan", finished_style="green"),
            MofNCompleteColumn(), TextColumn("{task.fields[failures]}"), TimeElapsedColumn(),
            TextColumn("[dim]{task.fields[current]}"), console=error_console, transient=True,
        )
        self.task = None
        self.failures = 0

    def __enter__(self) -> "Progress":
        if self.enabled:
            self.bar.start()
        else:
            print(f"certifying {self.label} ...", file=sys.stderr, flush=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()

    def plan(self, total: int) -> None:
        if self.enabled:
            self.task = self.bar.add_task(self.label, total=total, current="", failures="")

    def update(self, kind: str, task, result=None) -> None:
        """A task started ("start") or ended ("result", with its ClauseResult)."""
        if kind == "result" and result.status == "fail":
            self.failures += 1
        if not self.enabled or self.task is None:
            return
        if kind == "start":
            self.bar.update(self.task, current=task.id.replace("[variant]", " (declared)"))
        elif kind == "result":
            failures = f"[red]{self.failures} failed[/]" if self.failures else ""
            self.bar.update(self.task, advance=1, failures=failures)


# ---------------------------------------------------------------- grouping failures by cause
@dataclass
class FailureGroup:
    message: str
    clauses: list[dict]  # the failing clause results, in spec order
    minimal: dict  # the clause whose counterexample is the smallest

    @property
    def ids(self) -> list[str]:
        return [c["id"] for c in self.clauses]


def _size(clause: dict) -> tuple:
    case = clause.get("counterexample")
    if case is None:
        return (float("inf"),)
    try:
        return Case.from_counterexample(case).size()
    except ValueError:
        return (float("inf"),)


def failure_groups(clauses: list[dict]) -> list[FailureGroup]:
    """Failing clauses grouped by their shared cause (or, without one, by their message)."""
    groups: dict[str, list[dict]] = {}
    for c in clauses:
        if c["status"] == "fail":
            groups.setdefault(c.get("cause") or f"{c['id']}: {c['message']}", []).append(c)
    found = []
    for members in groups.values():
        minimal = min(members, key=_size)
        found.append(FailureGroup(minimal["message"], members, minimal))
    return found


def _runs(block: dict) -> list[tuple[str, str, list[dict]]]:
    runs = [("", block["verdict"], block.get("clauses", []))]
    variant = block.get("variant")
    if variant:
        runs.append((f" {describe_declaration(variant)}", variant["verdict"], variant["clauses"]))
    return runs


def implementation_name(certificate: dict) -> str:
    """The implementation as tables name it: with its runtime when deployed (``timm (onnx)``)."""
    runtime = certificate.get("environment", {}).get("runtime", "eager")
    return certificate["implementation"] + (f" ({runtime})" if runtime != "eager" else "")


def describe_declaration(variant: dict) -> str:
    parts = []
    if variant.get("declared"):
        parts.append("variant " + ", ".join(f"{k}={json.dumps(v)}" for k, v in variant["declared"].items()))
    if variant.get("domain"):
        parts.append(f"domain {variant['domain']}")
    return "under " + " and ".join(parts)


def common_skips(certificate: dict) -> dict[str, str]:
    """Skip reasons shared by every provided block (said once instead of on every line)."""
    per_block = []
    for block in certificate["blocks"].values():
        if block["verdict"] == "absent":
            continue
        per_block.append({c["id"]: c["message"] for c in block.get("clauses", []) if c["status"] == "skip"})
    if len(per_block) < 2:
        return {}
    shared = dict(per_block[0])
    for skips in per_block[1:]:
        shared = {k: v for k, v in shared.items() if skips.get(k) == v}
    return shared


# ---------------------------------------------------------------- terminal
def _say(lines: list[str], style: str | None = None) -> None:
    """Print already wrapped lines (no markup: implementations' messages may hold brackets)."""
    for line in lines:
        console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)


def print_certificate(certificate: dict, json_path=None, markdown_path=None, verbose: bool = False) -> None:
    """The report of a certificate, to the terminal's width: a line per block and setting, then
    each group of failures (its message, minimal case and the command that replays it)."""
    env = certificate["environment"]
    runtime = f", runtime {env['runtime']}" if env.get("runtime", "eager") != "eager" else ""
    console.print()
    _say(wrap(f"(torch {env['torch']}, python {env['python']}, device {env.get('device', 'cpu')}, "
              f"{env.get('precision', 'strict')}, profile {env['hypothesis_profile']}, seed {env['seed']}{runtime})",
              f"attncert certificate for {certificate['implementation']}  "), "bold")
    shared = common_skips(certificate)
    for name, block in certificate["blocks"].items():
        if block["verdict"] == "absent":
            continue
        for title, verdict, clauses in _runs(block):
            _say(wrap(f"{_counts(clauses)}{title}", f"{name:<18} {verdict.upper():<5} ", indent=25), STATUS_STYLE[verdict])
            for c in clauses:
                if c["status"] == "skip" and shared.get(c["id"]) != c["message"]:
                    _say(wrap(c["message"], f"  skipped {c['id']}: "), "yellow")
            if verbose:
                _print_clauses(clauses)
            _print_failures(name, clauses, json_path)
            if title and block["variant"].get("note"):
                _say(wrap(block["variant"]["note"], "  note: "), "yellow")
        missing = block.get("not_run", []) + (block.get("variant") or {}).get("not_run", [])
        if missing:
            _say(wrap(", ".join(missing), "  not run (interrupted): "), "yellow")
    absent = [name for name, block in certificate["blocks"].items() if block["verdict"] == "absent"]
    if absent:
        _say(wrap(", ".join(absent), "not provided: "), "dim")
    for clause_id, reason in shared.items():
        _say(wrap(reason, f"{clause_id} skipped on every block: "), "dim")
    verdicts = [b["verdict"] for b in certificate["blocks"].values() if b["verdict"] != "absent"]
    if "fail" in verdicts:
        overall, style = "FAIL", "bold red"
    elif "incomplete" in verdicts or not verdicts:
        overall, style = "INCOMPLETE", "yellow"
    else:
        overall, style = "PASS", "green"
    console.print()
    _say([overall], style)
    for label, path in (("certificate", json_path), ("report", markdown_path)):
        if path:
            _say(wrap(str(path), f"  {label}: ", indent=4))


def _counts(clauses: list[dict]) -> str:
    parts = []
    for status, word in (("pass", "passed"), ("fail", "failed"), ("skip", "skipped")):
        n = sum(c["status"] == status for c in clauses)
        if n:
            parts.append(f"{n} {word}")
    return ", ".join(parts)


def replay_hint(block: str, clause: dict, json_path) -> str | None:
    """The shortest command that replays a failing case: from the saved certificate when there is one."""
    if clause.get("counterexample") is None:
        return None
    if json_path:
        return shlex.join(["attncert", "replay", str(Path(json_path).resolve()), f"{block}::{clause['id']}"])
    return clause.get("reproduce")


def _print_failures(block: str, clauses: list[dict], json_path) -> None:
    for group in failure_groups(clauses):
        first, others = group.ids[0], group.ids[1:]
        _say(wrap(group.message, f"  ✗ {block}::{first} ", indent=6), "bold red")
        if others:
            _say(wrap(", ".join(others), "      same cause: ", indent=10), "dim")
        if group.minimal.get("counterexample") is not None:
            label = "counterexample" if not others else "counterexample (shared)"
            _say(wrap(json.dumps(group.minimal["counterexample"]), f"      {label}: ", indent=10))
        hint = replay_hint(block, group.minimal, json_path)
        if hint:
            _say(wrap_command(hint, "      reproduce: ", indent=10))


def _print_clauses(clauses: list[dict]) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, padding=(0, 2))
    table.add_column("clause", no_wrap=True, overflow="ignore")
    table.add_column("status", no_wrap=True)
    table.add_column("examples", justify="right", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    for c in clauses:
        table.add_row(c["id"], f"[{STATUS_STYLE[c['status']]}]{c['status']}[/]", str(c.get("examples", "")), f"{c.get('seconds', 0):.2f}")
    console.print(table)


def print_summary(certificates: list[dict]) -> None:
    """What ends a run of several certificates (``--all``, ``--runtime all``): per implementation,
    its blocks by verdict, wrapped to the terminal."""
    console.print("\n[bold]conformance summary[/]")
    width = max(len(implementation_name(cert)) for cert in certificates)
    for cert in certificates:
        groups: dict[str, list[str]] = {}
        for name, block in cert["blocks"].items():
            if block["verdict"] != "absent":
                variant = f" (declared: {block['variant']['verdict']})" if block.get("variant") else ""
                groups.setdefault(block["verdict"], []).append(name + variant)
        text = "; ".join(f"{verdict}: {', '.join(names)}" for verdict, names in groups.items()) or "no block provided"
        _say(wrap(text, f"  {implementation_name(cert):<{width}}  ", indent=width + 4))


# ---------------------------------------------------------------- Markdown
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(certificate: dict) -> str:
    """A Markdown report of a certificate (as loaded from JSON)."""
    env = certificate["environment"]
    lines = [
        f"# attncert certificate: `{certificate['implementation']}`",
        "",
        f"torch {env.get('torch')}, Python {env.get('python')}, device {env.get('device', 'cpu')} "
        f"({env.get('device_name') or 'unknown'}), precision {env.get('precision', 'strict')}, CUDA {env.get('cuda') or 'none'}, "
        f"profile `{env.get('hypothesis_profile')}`, seed {env.get('seed')}"
        + (f", source sha256 `{certificate['sha256'][:12]}…`" if certificate.get("sha256") else "")
        + ("" if certificate.get("complete", True) else " — **incomplete run**"),
        "",
        "| block | verdict | declaration | clauses passed | first failure |",
        "|---|---|---|---|---|",
    ]
    for name, block in certificate["blocks"].items():
        if block["verdict"] == "absent":
            lines.append(f"| {name} | absent | | | |")
            continue
        clauses = block["clauses"]
        passed = sum(c["status"] == "pass" for c in clauses)
        failing = next((c for c in clauses if c["status"] == "fail"), None)
        variant = block.get("variant")
        variant_text = f"{describe_declaration(variant)} → {variant['verdict']}" if variant else ""
        first = f"`{failing['id']}`: {_cell(failing['message'][:160])}" if failing else ""
        lines.append(f"| {name} | **{block['verdict']}** | {_cell(variant_text)} | {passed}/{len(clauses)} | {first} |")
    for name, block in certificate["blocks"].items():
        for title, _, clauses in _runs(block) if block["verdict"] != "absent" else []:
            groups = failure_groups(clauses)
            skips = [c for c in clauses if c["status"] == "skip"]
            if not groups and not skips:
                continue
            lines += ["", f"## {name} ({title.strip() or 'plain spec'})", ""]
            for group in groups:
                lines += [f"- **{', '.join(group.ids)}** failed: {_cell(group.message)}"]
                if group.minimal.get("counterexample") is not None:
                    lines += [f"  - minimal case: `{json.dumps(group.minimal['counterexample'])}`"]
                if group.minimal.get("reproduce"):
                    lines += [f"  - reproduce: `{group.minimal['reproduce']}`"]
            for c in skips:
                lines += [f"- {c['id']} skipped: {_cell(c['message'])}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the selftest
def selftest_markdown(summary: dict) -> str:
    """The selftest's report as Markdown (docs/selftest.md)."""
    every = summary["mode"] == "all"
    mode = ("every clause of the affected blocks (exact per-clause counts)" if every else
            "stop at the first failing clause, clauses in kill order (per-clause counts are first killers)")
    lines = [
        "# attncert selftest: mutation analysis of the harness", "",
        f"Profile **{summary['profile']}**, {'the CI subset' if summary['subset'] else 'every generated mutant'}; mode: {mode}."
        + ("" if summary["complete"] else " **Interrupted: the numbers cover the mutants that finished.**"), "",
        "| mutants | killed | equivalent | survived | kill rate | goal | time |", "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {summary['mutants']} | {summary['killed']} | {summary['equivalent']} | {summary['survived']} | "
        f"{summary['kill_rate']:.1%} | {summary['goal']:.0%} | {summary['seconds']:.0f} s |", "",
        "Kill rate = killed / (mutants - equivalent). Time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in summary["timings"].items()) + ".", "",
        "## Survivors (harness gaps)", "",
    ]
    if not summary["survivors"]:
        lines += ["None: every non-equivalent mutant was killed.", ""]
    for s in summary["survivors"]:
        check = s["check"] or {}
        lines += [f"### {s['id']} ({', '.join(s['blocks'])})", "", s["description"], "",
                  f"Oracle check: {check.get('message', 'not checked')}" + (f" at `{json.dumps(check['case'])}`" if check.get("case") else ""),
                  "", "```diff", s["diff"], "```", ""]
    lines += ["## Equivalent mutants", ""] + (["None.", ""] if not summary["equivalents"] else [])
    for s in summary["equivalents"]:
        lines += [f"### {s['id']} ({', '.join(s['blocks'])})", "", s["description"], "", f"Why equivalent: {s['reason']}.",
                  "", "```diff", s["diff"], "```", ""]
    lines += ["## Which clause kills what", "", "| clause | mutants killed |" + (" only by this clause |" if every else ""),
              "|---|---:|" + ("---:|" if every else "")]
    for clause, count in summary["per_clause"].items():
        lines.append(f"| {clause} | {count} |" + (f" {(summary['per_clause_sole'] or {}).get(clause, 0)} |" if every else ""))
    lines += ["", "Clauses that killed no mutant" + ("" if every else " first") + ": "
              + (", ".join(summary["clauses_never_killing"]) or "none") + ".", ""]
    if summary["timeouts"]:
        lines += ["Clauses that ran out of time (--timeout; no verdict, not counted as kills): "
                  + ", ".join(f"{c} ({n} mutants)" for c, n in summary["timeouts"].items()) + ".", ""]
    for title, key in (("Per operator", "per_operator"), ("Per block", "per_block")):
        lines += [f"## {title}", "", "| | mutants | killed | equivalent | survived |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {row['mutants']} | {row['killed']} | {row['equivalent']} | {row['survived']} |"
                  for name, row in summary[key].items()]
        lines.append("")
    lines += ["## Every mutant", "", "| id | blocks | status | killed by | what it breaks |", "|---|---|---|---|---|"]
    for r in summary["records"]:
        text = r["description"].replace("|", "\\|")
        lines.append(f"| {r['id']} | {', '.join(r['blocks'])} | {r['status']} | {r['killed_by'] or ''} | {text} |")
    return "\n".join(lines) + "\n"


def print_selftest(summary: dict, written: Iterable[str | None] = (), out=None) -> None:
    """The selftest's summary on the terminal."""
    out = out or sys.stdout
    print(f"attncert selftest ({summary['profile']}, {'subset' if summary['subset'] else 'all mutants'}, mode {summary['mode']}): "
          f"{summary['mutants']} mutants, {summary['killed']} killed, {summary['equivalent']} equivalent, "
          f"{summary['survived']} survived; kill rate {summary['kill_rate']:.1%} (goal {summary['goal']:.0%}) "
          f"in {summary['seconds']:.0f} s", file=out)
    print("  kills by clause: " + ", ".join(f"{c} {n}" for c, n in summary["per_clause"].items()), file=out)
    if summary["timeouts"]:
        print("  clauses out of time (no verdict): " + ", ".join(f"{c} {n}" for c, n in summary["timeouts"].items()), file=out)
    for s in summary["survivors"]:
        print(f"  SURVIVOR {s['id']} ({', '.join(s['blocks'])}): {s['description']}\n"
              f"    oracle check: {(s['check'] or {}).get('message')}", file=out)
    for s in summary["equivalents"]:
        print(f"  equivalent {s['id']}: {s['reason']}", file=out)
    for path in written:
        if path:
            print(f"  written: {path}", file=out)
    print(("PASS" if summary["meets_goal"] else "FAIL") + ("" if summary["complete"] else " (interrupted)"), file=out)
