"""The conformance matrix: certificates -> Markdown, a summary table (an implementation a row, a
block a column), then an implementation (and runtime) a section, a block a line, wrapped to 80
columns (all but the table's rows).

Only verdicts, declared variants, the first failing clause and its counterexample go in, never
timings or timestamps, so regenerating it from the same certificates gives the same bytes.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from .report import describe_declaration, implementation_name
from .text import wrap


INTRO = """Each implementation's verdict per block against the plain spec (the documents' blocks, and the
papers' for the others); where an implementation declares a variant (a deviation the spec knows)
or a domain (the part of the spec's domain it supports), the verdict under that declaration follows.
pass conforms; fail does not; incomplete: the run was interrupted. A runtime in parentheses: the block
as deployed (torch.compile, torch.export, ONNX run by onnxruntime). Blocks an implementation does
not provide are not listed."""


SUMMARY_INTRO = """An implementation a row, a block a column: the verdict in eager mode (/ under the declared
variant), then each runtime whose verdict differs from it; — where the block is not provided. The
runtimes each implementation was certified under follow the table."""


def _verdict(block: dict) -> str:
    text = f"**{block['verdict']}**" if block["verdict"] != "incomplete" else "*incomplete*"
    variant = block.get("variant")
    if variant:
        text += f"; {describe_declaration(variant)}: **{variant['verdict']}**"
    return text


def _first_failures(block: dict) -> list[tuple[str, dict]]:
    """The first failing clause of the plain run and of the declared-variant run, where they fail."""
    runs = [("plain spec", block.get("clauses", []))]
    if block.get("variant"):
        runs.append((describe_declaration(block["variant"]), block["variant"]["clauses"]))
    found = []
    for title, clauses in runs:
        first = next((c for c in clauses if c["status"] == "fail"), None)
        if first is not None:
            found.append((title, first))
    return found


def _versions(env: dict) -> str:
    libraries = env.get("libraries") or {}
    parts = [f"{name} {version}" for name, version in sorted(libraries.items()) if name != "torch"]
    return ", ".join(parts + [f"torch {env.get('torch')}"])


def render(certificates: list[dict], names: list[str] | None = None, width: int = 80) -> str:
    """The matrix as Markdown, ``width`` columns wide: a section per certificate (its file name from
    ``names``, where given), a line per block it provides, and its first failures."""
    names = names or [""] * len(certificates)
    order = sorted(range(len(certificates)), key=lambda i: (certificates[i]["implementation"],
                                                            implementation_name(certificates[i]), names[i]))
    profiles = sorted({f"{c['environment'].get('hypothesis_profile')} seed {c['environment'].get('seed')}" for c in certificates})
    lines = ["# attncert conformance matrix", ""]
    lines += textwrap.wrap(INTRO, width) + [""]
    lines += wrap(f"{len(certificates)} certificate{'s' * (len(certificates) != 1)}; search profile: "
                  f"{', '.join(profiles) or 'none'}.", width=width, indent=0) + [""]
    lines += ["## Summary", ""] + textwrap.wrap(SUMMARY_INTRO, width) + [""] + summary(certificates).splitlines() + [""]
    for i in order:
        cert, name = certificates[i], names[i]
        incomplete = " (incomplete run)" if not cert.get("complete", True) else ""
        lines += [f"## `{implementation_name(cert)}`{incomplete}", ""]
        lines += wrap(_versions(cert["environment"]) + (f"; certificate `{name}`" if name else ""), width=width, indent=0)
        lines.append("")
        provided = {b: block for b, block in cert["blocks"].items() if block["verdict"] != "absent"}
        for block_name, block in provided.items():
            lines += wrap(_verdict(block), f"- {block_name}: ", indent=2, width=width)
            for title, clause in _first_failures(block):
                message = clause["message"].replace("\n", " ")
                lines += wrap(f"`{clause['id']}`: {message}", f"  - first failure ({title}): ", indent=4, width=width)
                if clause.get("counterexample") is not None:
                    lines += wrap(f"`{json.dumps(clause['counterexample'])}`", "    counterexample: ", indent=6, width=width)
        if not provided:
            lines.append("- no block provided")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def summary(certificates: list[dict]) -> str:
    """One Markdown table: an implementation a row, a block a column (every block the certificates
    know, in their order). A cell is the eager verdict (and the declared variant's), then each
    runtime whose verdict differs from it; "—" where the block is not provided. Below it, the
    runtimes each implementation was certified under."""
    verdicts: dict[str, dict[str, dict[str, str]]] = {}  # implementation -> runtime -> block -> verdict
    blocks: list[str] = []
    for cert in certificates:
        runtime = cert["environment"].get("runtime", "eager")
        row = verdicts.setdefault(cert["implementation"], {}).setdefault(runtime, {})
        for name, block in cert["blocks"].items():
            blocks += [name] if name not in blocks else []
            if block["verdict"] != "absent":
                row[name] = _short_verdict(block)
    lines = ["| implementation | " + " | ".join(blocks) + " |", "|---" * (len(blocks) + 1) + "|"]
    for implementation in sorted(verdicts):
        runtimes = sorted(verdicts[implementation], key=_runtime_order)
        eager = verdicts[implementation].get("eager", {})
        cells = []
        for block in blocks:
            shown = [eager[block]] if block in eager else []
            shown += [f"{runtime}: {verdicts[implementation][runtime][block]}" for runtime in runtimes
                      if runtime != "eager" and block in verdicts[implementation][runtime]
                      and verdicts[implementation][runtime][block] != eager.get(block)]
            cells.append("; ".join(shown) or "—")
        lines.append(f"| `{implementation}` | " + " | ".join(cells) + " |")
    lines.append("")
    for implementation in sorted(verdicts):
        lines.append(f"- `{implementation}`: " + ", ".join(sorted(verdicts[implementation], key=_runtime_order)))
    return "\n".join(lines) + "\n"


RUNTIME_ORDER = ("eager", "compile", "export", "onnx")


def _runtime_order(runtime: str) -> tuple[int, str]:
    return (RUNTIME_ORDER.index(runtime) if runtime in RUNTIME_ORDER else len(RUNTIME_ORDER), runtime)


def _short_verdict(block: dict) -> str:
    def word(verdict: str) -> str:
        return verdict if verdict == "pass" else f"**{verdict}**"

    variant = block.get("variant")
    return word(block["verdict"]) + (f" / variant {word(variant['verdict'])}" if variant else "")


def load_certificates(paths: list[Path]) -> list[tuple[str, dict]]:
    """(file, certificate) from files and folders (every *.json in a folder); ValueError names a bad one."""
    from .explain import CertificateError, read_certificate

    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise FileNotFoundError(f"no certificates (*.json) in {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such certificate or folder: {path}")
    try:
        return [(str(p), read_certificate(p)) for p in files]
    except CertificateError as err:
        raise ValueError(str(err)) from None
