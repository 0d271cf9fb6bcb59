"""Terminal output: a progress display while clauses run, then a readable report per block."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn
from rich.table import Table

STATUS_STYLE = {"pass": "green", "fail": "bold red", "skip": "yellow", "absent": "dim", "incomplete": "yellow"}

console = Console(highlight=False, soft_wrap=False)
error_console = Console(stderr=True, highlight=False)


class Progress:
    """A progress bar over the run's clauses (on stderr, so stdout stays a clean report)."""

    def __init__(self, label: str, enabled: bool = True):
        self.label = label
        self.enabled = enabled and error_console.is_terminal
        self.bar = RichProgress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[current]}"), console=error_console, transient=True,
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

    def update(self, kind: str, data: dict) -> None:
        if kind == "plan":  # one per worker: the totals add up
            if self.enabled and self.task is None:
                self.task = self.bar.add_task(self.label, total=len(data["tasks"]), current="")
            elif self.enabled:
                self.bar.update(self.task, total=self.bar.tasks[0].total + len(data["tasks"]))
        elif kind == "start" and self.enabled and self.task is not None:
            variant = " (variant)" if data["variant"] else ""
            self.bar.update(self.task, current=f"{data['block']}::{data['clause']}{variant}")
        elif kind == "result":
            if self.enabled and self.task is not None:
                self.bar.advance(self.task)
            if data["status"] == "fail":
                self.failures += 1


def print_certificate(certificate: dict, json_path=None, verbose: bool = False) -> None:
    env = certificate["environment"]
    console.print(
        f"\n[bold]attncert certificate[/] for [bold]{certificate['implementation']}[/]  "
        f"(torch {env['torch']}, python {env['python']}, cuda {env['cuda'] or 'none'}, "
        f"profile {env['hypothesis_profile']}, seed {env['seed']})",
        soft_wrap=True,
    )
    for name, block in certificate["blocks"].items():
        verdict = block["verdict"]
        if verdict == "absent":
            console.print(f"[dim]{name:<18} absent (not provided)[/]")
            continue
        runs = [("", block["clauses"])]
        variant = block.get("variant")
        if variant:
            runs.append((f" under variant {variant['declared']}", variant["clauses"]))
        for title, clauses in runs:
            shown = verdict if not title else variant["verdict"]
            console.print(f"[bold]{name:<18}[/] [{STATUS_STYLE[shown]}]{shown.upper():<5}[/] {_counts(clauses)}{title}", soft_wrap=True)
            if verbose:
                _print_clauses(clauses)
            _print_failures(name, clauses)
        if block.get("not_run"):
            console.print(f"  [yellow]not run: {', '.join(block['not_run'])}[/]", soft_wrap=True)
    verdicts = [b["verdict"] for b in certificate["blocks"].values() if b["verdict"] != "absent"]
    overall = "PASS" if verdicts and all(v == "pass" for v in verdicts) else "FAIL"
    style = "green" if overall == "PASS" else "bold red"
    complete = "" if certificate.get("complete", True) else " [yellow](incomplete run)[/]"
    console.print(f"\n[{style}]{overall}[/]{complete}" + (f"  certificate: {json_path}" if json_path else ""), soft_wrap=True)


def _counts(clauses: list[dict]) -> str:
    parts = []
    for status in ("pass", "fail", "skip"):
        n = sum(c["status"] == status for c in clauses)
        if n:
            word = {"pass": "passed", "fail": "failed", "skip": "skipped"}[status]
            parts.append(f"{n} {word}")
    skips = [f"{c['id']}: {c['message']}" for c in clauses if c["status"] == "skip"]
    return ", ".join(parts) + (f" [dim]({'; '.join(skips)})[/]" if skips else "")


def _print_failures(block: str, clauses: list[dict]) -> None:
    """Each distinct failure in full; clauses failing with the same message are named once."""
    by_message: dict[str, list[dict]] = {}
    for c in clauses:
        if c["status"] == "fail":
            by_message.setdefault(c["message"], []).append(c)
    for message, same in by_message.items():
        first = same[0]
        console.print(f"  [bold red]✗ {block}::{first['id']}[/] {escape(message)}", soft_wrap=True)
        if first.get("counterexample") is not None:
            console.print(f"      counterexample: {json.dumps(first['counterexample'])}", markup=False, soft_wrap=True)
        if first.get("reproduce"):
            console.print(f"      reproduce: {first['reproduce']}", markup=False, soft_wrap=True)
        if len(same) > 1:
            console.print(f"      [dim]same failure in {len(same) - 1} more clauses: {', '.join(c['id'] for c in same[1:])}[/]", soft_wrap=True)


def _print_clauses(clauses: list[dict]) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, padding=(0, 2))
    for column in ("clause", "status", "examples", "seconds"):
        table.add_column(column, justify="right" if column in ("examples", "seconds") else "left")
    for c in clauses:
        table.add_row(c["id"], _status(c), str(c.get("examples", "")), f"{c.get('seconds', 0):.2f}")
    console.print(table)


def _status(clause: dict) -> str:
    status = clause["status"]
    text = f"[{STATUS_STYLE[status]}]{status}[/]"
    if status == "skip":
        text += f" [dim]({clause['message']})[/]"
    return text


def print_summary(certificates: list[dict]) -> None:
    """The implementation x block table that ends `attncert certify --all`."""
    blocks = list(certificates[0]["blocks"]) if certificates else []
    table = Table(title="conformance summary", header_style="bold")
    table.add_column("implementation")
    for name in blocks:
        table.add_column(name)
    for cert in certificates:
        cells = []
        for name in blocks:
            block = cert["blocks"][name]
            verdict = block["verdict"]
            text = f"[{STATUS_STYLE[verdict]}]{verdict}[/]"
            if block.get("variant"):
                text += f" / variant {block['variant']['verdict']}"
            cells.append(text)
        table.add_row(cert["implementation"], *cells)
    console.print(table)
