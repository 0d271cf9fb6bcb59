"""Terminal output: a progress display while clauses run, then a readable report per block."""

from __future__ import annotations

import sys

from rich.console import Console
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
        if kind == "plan":
            if self.enabled:
                self.task = self.bar.add_task(self.label, total=len(data["tasks"]), current="")
        elif kind == "start" and self.enabled and self.task is not None:
            variant = " (variant)" if data["variant"] else ""
            self.bar.update(self.task, current=f"{data['block']}::{data['clause']}{variant}")
        elif kind == "result":
            if self.enabled and self.task is not None:
                self.bar.advance(self.task)
            if data["status"] == "fail":
                self.failures += 1


def print_certificate(certificate: dict, json_path=None) -> None:
    env = certificate["environment"]
    console.print(
        f"\n[bold]attncert certificate[/] for [bold]{certificate['implementation']}[/]  "
        f"(torch {env['torch']}, python {env['python']}, cuda {env['cuda'] or 'none'}, "
        f"profile {env['hypothesis_profile']}, seed {env['seed']})"
    )
    for name, block in certificate["blocks"].items():
        verdict = block["verdict"]
        if verdict == "absent":
            console.print(f"\n[dim]{name}: absent (the implementation does not provide it)[/]")
            continue
        line = f"\n[bold]{name}[/]: [{STATUS_STYLE[verdict]}]{verdict.upper()}[/]"
        variant = block.get("variant")
        if variant:
            line += f"   under declared variant {variant['declared']}: [{STATUS_STYLE[variant['verdict']]}]{variant['verdict'].upper()}[/]"
        console.print(line)
        _print_clauses(block["clauses"], variant["clauses"] if variant else None)
        if block.get("not_run"):
            console.print(f"  [yellow]not run: {', '.join(block['not_run'])}[/]")
        for title, clauses in [("", block["clauses"])] + ([(" (variant)", variant["clauses"])] if variant else []):
            for c in clauses:
                if c["status"] == "fail":
                    console.print(f"  [bold red]✗ {c['id']}{title}[/]: {c['message']}", markup=True)
                    if c.get("counterexample") is not None:
                        console.print(f"      counterexample: {_json(c['counterexample'])}", markup=False)
                    if c.get("reproduce"):
                        console.print(f"      reproduce: {c['reproduce']}", markup=False)
    verdicts = [b["verdict"] for b in certificate["blocks"].values() if b["verdict"] != "absent"]
    overall = "PASS" if verdicts and all(v == "pass" for v in verdicts) else "FAIL"
    style = "green" if overall == "PASS" else "bold red"
    complete = "" if certificate.get("complete", True) else " [yellow](incomplete run)[/]"
    console.print(f"\n[{style}]{overall}[/]{complete}" + (f"  certificate: {json_path}" if json_path else ""))


def _print_clauses(plain: list[dict], variant: list[dict] | None) -> None:
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, padding=(0, 2))
    table.add_column("clause")
    table.add_column("plain")
    if variant is not None:
        table.add_column("variant")
    table.add_column("examples", justify="right")
    by_id = {c["id"]: c for c in variant or []}
    for c in plain:
        row = [c["id"], _status(c)]
        if variant is not None:
            row.append(_status(by_id[c["id"]]) if c["id"] in by_id else "")
        row.append(str(c.get("examples", "")))
        table.add_row(*row)
    console.print(table)


def _status(clause: dict) -> str:
    status = clause["status"]
    text = f"[{STATUS_STYLE[status]}]{status}[/]"
    if status == "skip":
        text += f" [dim]({clause['message']})[/]"
    return text


def _json(data) -> str:
    import json

    return json.dumps(data)


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
