"""Clause explanations and certificate replay: ``attncert list``, ``attncert explain``, ``attncert replay``.

The text of an explanation lives in one place, the clause's docstring (``conformance/clauses.py``):
a first paragraph stating what the clause checks, then ``Source:``, ``Causes:`` and ``Fix:``
paragraphs. Invariant clauses add the spec's own statement and source of the invariant
(``spec/blocks.yaml``, ``invariants:``). ``parse_doc`` splits a docstring into those four parts; the
test suite uses it to enforce that every clause has all four.

``replay`` re-runs every failing case of a saved certificate exactly as ``attncert reproduce`` does
(a child process, the recorded counterexample, only that clause) and says which still fail.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .runner import DEFAULT_TIMEOUT, Run, RunOptions, reproduce_command
from .spec import DEFAULT_SPEC, Spec, load_spec
from .targets import TargetError, TargetRef, resolve

DOC_PARTS = ("statement", "source", "causes", "fix")
_LABELS = {"Source:": "source", "Causes:": "causes", "Fix:": "fix"}
WIDTH = 100


class CertificateError(ValueError):
    """A certificate that cannot be replayed: unreadable, not JSON, or not an attncert certificate (exit 2)."""


# ---------------------------------------------------------------- the explanation text
def parse_doc(doc: str) -> dict[str, str]:
    """Split a clause docstring into statement, source, causes and fix (each one line; "" when missing).

    The statement is the first paragraph; the other parts start with ``Source:``, ``Causes:`` and
    ``Fix:`` at the beginning of a line and run until the next label or blank line.
    """
    parts = dict.fromkeys(DOC_PARTS, "")
    paragraphs = doc.strip().split("\n\n", 1)
    parts["statement"] = " ".join(paragraphs[0].split())
    current = None
    for line in (paragraphs[1] if len(paragraphs) > 1 else "").splitlines():
        stripped = line.strip()
        label = next((lab for lab in _LABELS if stripped.startswith(lab)), None)
        if label is not None:
            current = _LABELS[label]
            parts[current] = stripped[len(label):].strip()
        elif not stripped:
            current = None
        elif current is not None:
            parts[current] += " " + stripped
    return parts


def _clauses():
    from .clauses import CLAUSES

    return CLAUSES


def _split_id(clause_id: str) -> tuple[str | None, str]:
    """``se::oracle.output`` -> ("se", "oracle.output"); also takes pytest ids ending in ``[variant]``."""
    text = clause_id.strip()
    if text.endswith("[variant]"):
        text = text[: -len("[variant]")]
    block, sep, clause = text.rpartition("::")
    if not sep:
        return None, text
    return block.rsplit("::", 1)[-1] or None, clause


def _wrap(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=label, subsequent_indent=" " * len(label)) or [label.rstrip()]


def list_clauses(spec: Spec, block: str | None = None) -> str:
    """The clauses of each block (or of one block), one line each: id and statement."""
    from .clauses import clauses_for

    names = [spec.block(block).name] if block else list(spec.blocks)  # unknown block: DomainError
    lines: list[str] = []
    for name in names:
        spec_block = spec.block(name)
        clauses = clauses_for(name, spec)
        if lines:
            lines.append("")
        lines.append(f"{name} — {spec_block.title} (factory {spec_block.factory}(...), {len(clauses)} clauses)")
        width = max(len(c.id) for c in clauses) if clauses else 0
        for c in clauses:
            notes = []
            if c.needs_cuda:
                notes.append("needs CUDA")
            if c.invariant is not None:
                use = spec_block.invariant(c.invariant)
                if use is not None and use.unless is not None:
                    notes.append(f"not required when {use.unless}")
            note = f" [{'; '.join(notes)}]" if notes else ""
            lines.append(f"  {c.id:<{width}}  {parse_doc(c.doc)['statement']}{note}")
    lines += ["", "attncert explain CLAUSE  (e.g. attncert explain eca::invariant.kernel_size) says why a clause fails and how to fix it."]
    return "\n".join(lines) + "\n"


def explain(spec: Spec, clause_id: str) -> str:
    """What a clause checks, the blocks it applies to, where it comes from, typical causes, the fix.

    ``clause_id`` is ``oracle.output`` or block-qualified ``se::oracle.output`` (as reports print it).
    An unknown clause or block, or a clause that the spec does not declare for the named block,
    raises ValueError listing what is known.
    """
    from .clauses import clauses_for

    clauses = _clauses()
    block_name, cid = _split_id(clause_id)
    if cid not in clauses:
        raise ValueError(f"unknown clause {clause_id!r}; known clauses: {', '.join(clauses)}")
    clause = clauses[cid]
    applies = [name for name in spec.blocks if clause.applies_to(name, spec)]
    if block_name is not None:
        if block_name not in spec.blocks:
            raise ValueError(f"unknown block {block_name!r} in {clause_id!r}; known blocks: {', '.join(spec.blocks)}")
        if block_name not in applies:
            raise ValueError(f"the spec does not declare {cid} for {block_name}; it applies to: {', '.join(applies) or 'no block'}")
    shown = [block_name] if block_name else applies
    parts = parse_doc(clause.doc)
    title = f"{block_name}::{cid}" if block_name else cid
    lines = [title, "=" * len(title), ""]
    lines += _wrap("What it checks: ", parts["statement"])
    lines += _wrap("Applies to:     ", ", ".join(applies) if applies else "no block of this spec")
    if clause.needs_cuda:
        lines += _wrap("Runs:           ", "only where CUDA is available; otherwise the clause is skipped (never passed)")
    setting = _setting(clause)
    if setting:
        lines += _wrap("Inputs:         ", setting)
    lines.append("")
    if clause.invariant is not None:
        invariant = spec.invariants.get(clause.invariant, {})
        lines += _wrap("Spec invariant: ", f"{clause.invariant}: {invariant.get('statement', '')}")
        lines += _wrap("    stated in:  ", invariant.get("source", ""))
        for name in shown:
            use = spec.block(name).invariant(clause.invariant)
            if use is None:
                continue
            details = [f"{k} = {v}" for k, v in use.args.items()]
            if clause.invariant == "kernel_size":
                derived = dict(spec.block(name).derived)
                if "kernel_size" in derived:
                    details.append(f"kernel_size = {derived['kernel_size']}")
            if use.unless is not None:
                details.append(f"not required when {use.unless}")
            if details:
                lines += _wrap(f"    {name}: ", "; ".join(details))
        lines.append("")
    if cid == "params.count":
        for name in shown:
            lines += _wrap(f"Formula ({name}): ", str(spec.block(name).param_count))
        lines.append("")
    lines += _wrap("Source: ", parts["source"])
    for name in shown:
        block = spec.block(name)
        lines += _wrap(f"  {name}: ", f"{block.title}; documents {block.documents}; {block.paper}")
    lines.append("")
    lines += _wrap("Typical causes: ", parts["causes"])
    lines.append("")
    lines += _wrap("How to fix: ", parts["fix"])
    lines.append("")
    hint = f"{block_name}::{cid}" if block_name else f"BLOCK::{cid}"
    lines.append(f"Replay one failing case: attncert reproduce TARGET {hint} --case '<counterexample JSON>'")
    lines.append("Confirm a fix for every failure of a saved certificate: attncert replay CERTIFICATE.json")
    return "\n".join(lines) + "\n"


def _setting(clause) -> str:
    parts = []
    if tuple(clause.dtypes) != ("float64", "float32"):
        parts.append("dtype " + "/".join(clause.dtypes))
    if tuple(clause.layouts) != ("contiguous", "channels_last", "noncontiguous"):
        parts.append("layout " + "/".join(clause.layouts))
    if clause.max_numel:
        parts.append(f"at most {clause.max_numel} input elements")
    if clause.max_channels:
        parts.append(f"at most {clause.max_channels} channels")
    if clause.min_batch > 1:
        parts.append(f"batch of at least {clause.min_batch}")
    return ", ".join(parts)


# ---------------------------------------------------------------- replay
@dataclass
class FailingCase:
    """One failing clause of a saved certificate, and what replaying it gave."""

    block: str
    variant: bool
    declared: dict | None
    clause: str
    message: str
    counterexample: dict | None
    status: str = "not replayed"  # pass | fail | skip | not replayed
    new_message: str = ""

    @property
    def name(self) -> str:
        return f"{self.block}::{self.clause}" + (f" [variant {json.dumps(self.declared)}]" if self.variant else "")


def read_certificate(path: Path | str) -> dict[str, Any]:
    """Load and sanity-check a JSON certificate; CertificateError says what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise CertificateError(f"cannot read the certificate {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise CertificateError(f"{path} is not a text file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CertificateError(f"{path} is not JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("implementation"), str) or not isinstance(data.get("blocks"), dict):
        raise CertificateError(f"{path} is not an attncert certificate (it needs 'implementation' and 'blocks')")
    for name, block in data["blocks"].items():
        if not isinstance(block, dict) or block.get("verdict") not in ("pass", "fail", "absent"):
            raise CertificateError(f"{path}: block {name!r} has no valid verdict")
        runs = [block.get("clauses", [])] + ([block["variant"].get("clauses", [])] if isinstance(block.get("variant"), dict) else [])
        for clauses in runs:
            if not isinstance(clauses, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str)
                                                        and c.get("status") in ("pass", "fail", "skip") for c in clauses):
                raise CertificateError(f"{path}: block {name!r} has malformed clause results")
    return data


def failing_cases(certificate: dict[str, Any]) -> list[FailingCase]:
    """Every failing clause of a certificate, plain runs first, then declared-variant runs."""
    found = []
    for name, block in certificate["blocks"].items():
        variant = block.get("variant") if isinstance(block.get("variant"), dict) else None
        runs = [(False, None, block.get("clauses", []))]
        if variant:
            runs.append((True, variant.get("declared"), variant.get("clauses", [])))
        for is_variant, declared, clauses in runs:
            for c in clauses:
                if c["status"] == "fail":
                    case = c.get("counterexample")
                    found.append(FailingCase(name, is_variant, declared, c["id"], c.get("message", ""),
                                             case if isinstance(case, dict) else None))
    return found


def _resolve_target(label: str, certificate_path: Path, override: str | None) -> TargetRef:
    """The certificate's target: as given where replay runs, else a path next to the certificate."""
    if override:
        return resolve(override)
    try:
        return resolve(label)
    except TargetError as first:
        beside = certificate_path.resolve().parent / label
        if beside.is_file():
            return TargetRef(label=label, path=str(beside))
        raise TargetError(f"{first} (the certificate's implementation; run replay where certify ran, "
                          f"or pass --target)") from None


def _resolve_spec(certificate: dict[str, Any], override: Path | str | None) -> tuple[Path, str]:
    if override:
        return Path(override), ""
    recorded = (certificate.get("environment") or {}).get("spec")
    if not recorded or Path(recorded).is_file():
        return Path(recorded) if recorded else DEFAULT_SPEC, ""
    return DEFAULT_SPEC, f"the certificate's spec {recorded} is not here; replaying against the bundled spec"


def replay(certificate_path: Path | str, timeout: float = DEFAULT_TIMEOUT, target: str | None = None,
           spec_path: Path | str | None = None, progress: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Re-run every failing case of a saved certificate; return (report, exit status).

    Exit status 0 when every failing case now passes, 1 when any still fails (or cannot be
    confirmed: no recorded counterexample, a skip, a block the target no longer provides).
    ``progress`` (e.g. a print to stderr) hears one line per child process started.
    Raises CertificateError (unreadable certificate), TargetError (target not found), SpecError.
    """
    from .clauses import CLAUSES

    certificate_path = Path(certificate_path)
    certificate = read_certificate(certificate_path)
    path, note = _resolve_spec(certificate, spec_path)
    spec = load_spec(path)
    label = certificate["implementation"]
    cases = failing_cases(certificate)
    lines = [f"replaying {certificate_path} ({label}): {len(cases)} failing case{'s' * (len(cases) != 1)}"]
    if note:
        lines.append(f"note: {note}")
    if certificate.get("complete") is False:
        lines.append("note: the certificate is from an interrupted run; clauses it did not run are not replayed")
    if not cases:
        lines.append("nothing to replay: the certificate has no failing clause")
        return "\n".join(lines) + "\n", 0
    ref = _resolve_target(label, certificate_path, target)

    replayable: dict[str, list[FailingCase]] = {}
    for case in cases:
        if case.counterexample is None:
            case.new_message = "no counterexample was recorded (e.g. a hang or crash before any example), so it cannot be replayed"
        elif case.block not in spec.blocks or case.clause not in CLAUSES:
            case.new_message = f"{case.block}::{case.clause} is not a clause of this spec / attncert version"
        else:
            replayable.setdefault(json.dumps(case.counterexample, sort_keys=True), []).append(case)

    # One child process per distinct counterexample: the clauses that failed on it, and only those.
    for key, group in replayable.items():
        counterexample = group[0].counterexample
        if progress is not None:
            progress(f"replaying {', '.join(c.name for c in group)} on {ref.label} ...")
        blocks = sorted({c.block for c in group}, key=list(spec.blocks).index)
        options = RunOptions(timeout=timeout, blocks=blocks, spec_path=path, database=None, case=counterexample,
                             only=[(c.block, c.variant, c.clause) for c in group])
        result = Run(ref, spec, options, jobs=1).execute()
        for case in group:
            block = result.blocks.get(case.block)
            run = (block.variant if case.variant else block.plain) if block is not None else None
            outcome = next((r for r in run.clauses if r.id == case.clause), None) if run else None
            if outcome is None:
                what = "a declared variant for " if case.variant else ""
                case.new_message = f"not run: {ref.label} no longer provides {what}{case.block}"
                continue
            case.status, case.new_message = outcome.status, outcome.message

    width = max(len(c.name) for c in cases)
    for case in cases:
        verdict = {"pass": "now passes", "fail": "STILL FAILS", "skip": "SKIPPED (not confirmed)"}.get(case.status, "NOT REPLAYED")
        lines.append(f"  {case.name:<{width}}  {verdict}")
        if case.status == "pass":
            continue
        if case.new_message:
            lines += _wrap("      ", case.new_message)
        if case.counterexample is not None:
            lines.append(f"      case: {json.dumps(case.counterexample)}")
            lines.append("      reproduce: " + reproduce_command(TargetRef(label=label), case.block, case.clause, case.variant,
                                                                  case.counterexample, RunOptions(spec_path=path)))
    passed = sum(c.status == "pass" for c in cases)
    if passed == len(cases):
        lines.append(f"all {len(cases)} failing case{'s' * (len(cases) != 1)} now pass; "
                     "run attncert certify again for a new certificate")
        return "\n".join(lines) + "\n", 0
    lines.append(f"{passed} of {len(cases)} failing cases now pass; {len(cases) - passed} still fail or could not be confirmed")
    return "\n".join(lines) + "\n", 1
