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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from .options import DEFAULT_TIMEOUT
from .locations import DEFAULT_SPEC
from .spec import Spec, load_spec
from .targets import TargetError, TargetRef, resolve
from .text import wrap, wrap_command

DOC_PARTS = ("statement", "source", "causes", "fix")
_LABELS = {"Source:": "source", "Causes:": "causes", "Fix:": "fix"}
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
    """``label`` + ``text`` to the terminal's width, continued lines under the text's start."""
    return wrap(text, label, indent=len(label))


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
        lines += wrap(f"{spec_block.title} (factory {spec_block.factory}(...), {len(clauses)} clauses)", f"{name} — ")
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
            lines += wrap(f"{parse_doc(c.doc)['statement']}{note}", f"  {c.id:<{width}}  ", indent=width + 4)
    lines += [""] + wrap("(e.g. attncert explain eca::invariant.kernel_size) says why a clause fails and how to fix it.",
                         "attncert explain CLAUSE  ")
    return "\n".join(lines) + "\n"


def explain(spec: Spec, clause_id: str) -> str:
    """What a clause checks, the blocks it applies to, where it comes from, typical causes, the fix.

    ``clause_id`` is ``oracle.output`` or block-qualified ``se::oracle.output`` (as reports print it).
    An unknown clause or block, or a clause that the spec does not declare for the named block,
    raises ValueError listing what is known.
    """
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
            if use.train is not None:
                details.append(f"in train mode only when {use.train}")
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
        origin = f"documents {block.documents}" if block.documents else f"the authors' code: {block.code}"
        lines += _wrap(f"  {name}: ", f"{block.title}; {origin}; {block.paper}")
    lines.append("")
    lines += _wrap("Typical causes: ", parts["causes"])
    lines.append("")
    lines += _wrap("How to fix: ", parts["fix"])
    lines.append("")
    hint = f"{block_name}::{cid}" if block_name else f"BLOCK::{cid}"
    lines += _wrap("Replay one failing case: ", f"attncert reproduce TARGET {hint} --case '<counterexample JSON>'")
    lines += _wrap("Confirm a fix for every failure of a saved certificate: ", "attncert replay CERTIFICATE.json")
    return "\n".join(lines) + "\n"


def _setting(clause) -> str:
    """What a clause draws, where it differs from the default draw."""
    from .cases import DTYPES, LAYOUTS, REDUCED_DTYPES, VALUES

    parts = []
    if tuple(clause.dtypes) != DTYPES + REDUCED_DTYPES:
        parts.append("dtype " + "/".join(clause.dtypes))
    if tuple(clause.layouts) != LAYOUTS:
        parts.append("layout " + "/".join(clause.layouts))
    if tuple(clause.values) != VALUES:
        parts.append("values " + "/".join(clause.values))
    if not clause.scaled:
        parts.append("unit input and weight magnitudes")
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
    declaration: str  # how the adapter's declaration reads ("under variant bias=true"), "" for the plain spec
    clause: str
    message: str
    counterexample: dict | None
    status: str = "not replayed"  # pass | fail | skip | not replayed
    new_message: str = ""

    @property
    def id(self) -> str:
        return f"{self.block}::{self.clause}" + ("[variant]" if self.variant else "")

    @property
    def name(self) -> str:
        return f"{self.block}::{self.clause}" + (f" [{self.declaration}]" if self.variant else "")


def read_certificate(path: Path | str) -> dict[str, Any]:
    """Load and sanity-check a JSON certificate; CertificateError says what is wrong."""
    from .certificate import VERDICTS

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
        if not isinstance(block, dict) or block.get("verdict") not in VERDICTS:
            raise CertificateError(f"{path}: block {name!r} has no valid verdict")
        runs = [block.get("clauses", [])] + ([block["variant"].get("clauses", [])] if isinstance(block.get("variant"), dict) else [])
        for clauses in runs:
            if not isinstance(clauses, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str)
                                                        and c.get("status") in ("pass", "fail", "skip") for c in clauses):
                raise CertificateError(f"{path}: block {name!r} has malformed clause results")
    return data


def failing_cases(certificate: dict[str, Any]) -> list[FailingCase]:
    """Every failing clause of a certificate, plain runs first, then runs under the declaration."""
    from .report import describe_declaration

    found = []
    for name, block in certificate["blocks"].items():
        variant = block.get("variant") if isinstance(block.get("variant"), dict) else None
        runs = [(False, "", block.get("clauses", []))]
        if variant:
            runs.append((True, describe_declaration(variant), variant.get("clauses", [])))
        for is_variant, declaration, clauses in runs:
            for c in clauses:
                if c["status"] == "fail":
                    case = c.get("counterexample")
                    found.append(FailingCase(name, is_variant, declaration, c["id"], c.get("message", ""),
                                             case if isinstance(case, dict) else None))
    return found


def _resolve_target(label: str, recorded: str | None, certificate_path: Path, override: str | None) -> TargetRef:
    """The certificate's target: as given where replay runs, else beside the certificate, else the
    file it recorded (an absolute path)."""
    if override:
        return resolve(override)
    try:
        return resolve(label)
    except TargetError as first:
        for candidate in (certificate_path.resolve().parent / label, recorded):
            if candidate and Path(candidate).is_file():
                return TargetRef(label=label, path=str(Path(candidate).resolve()))
        raise TargetError(f"{first} (the certificate's implementation; run replay where certify ran, "
                          f"or pass --target)") from None


def _resolve_spec(certificate: dict[str, Any], override: Path | str | None) -> tuple[Path, str]:
    if override:
        return Path(override), ""
    recorded = (certificate.get("environment") or {}).get("spec")
    if not recorded or Path(recorded).is_file():
        return Path(recorded) if recorded else DEFAULT_SPEC, ""
    return DEFAULT_SPEC, f"the certificate's spec {recorded} is not here; replaying against the bundled spec"


def _select(cases: list[FailingCase], wanted: Sequence[str]) -> list[FailingCase]:
    """Only the failing cases named (``se::params.count``, ``se::params.count[variant]`` or a whole block)."""
    if not wanted:
        return cases
    chosen = [c for c in cases if c.id in wanted or f"{c.block}::{c.clause}" in wanted or c.block in wanted]
    unknown = [w for w in wanted if not any(w in (c.id, f"{c.block}::{c.clause}", c.block) for c in cases)]
    if unknown:
        known = ", ".join(sorted({f"{c.block}::{c.clause}" for c in cases})) or "none"
        raise CertificateError(f"the certificate has no failing {', '.join(unknown)} (its failing clauses: {known})")
    return chosen


def _replay_groups(certification, groups: list[list[FailingCase]], progress) -> None:
    """One run per distinct counterexample: the clauses that failed on it, and only those."""
    from .results import Task

    for group in groups:
        if progress is not None:
            progress(f"replaying {', '.join(c.name for c in group)} on {certification.ref.label} ...")
        tasks = [Task(c.block, c.clause, c.variant) for c in group]
        certification.results.clear()
        certification.run(group[0].counterexample, only=tasks)
        for case, task in zip(group, tasks):
            outcome = certification.results.get(task)
            if outcome is not None:
                case.status, case.new_message = outcome.status, outcome.message


def replay(certificate_path: Path | str, timeout: float = DEFAULT_TIMEOUT, target: str | None = None,
           spec_path: Path | str | None = None, clauses: Sequence[str] = (),
           progress: Callable[[str], None] | None = None) -> tuple[str, int]:
    """Re-run the failing cases of a saved certificate (all, or the named ``clauses``); return (report, exit status).

    They run under the certificate's device and precision. Exit status 0 when every case replayed
    now passes, 1 when any still fails (or cannot be confirmed: no recorded counterexample, a skip,
    a block the target no longer provides). ``progress`` hears one line per group of cases.
    Raises CertificateError (unreadable certificate), TargetError (target not found), SpecError.
    """
    from .clauses import CLAUSES
    from .certification import Certification, NothingToCertify, reproduce_command
    from .options import RunOptions
    from .pool import Pool
    from .results import Task

    certificate_path = Path(certificate_path)
    certificate = read_certificate(certificate_path)
    path, note = _resolve_spec(certificate, spec_path)
    spec = load_spec(path)
    label = certificate["implementation"]
    cases = _select(failing_cases(certificate), clauses)
    against = f", against {target}" if target else ""
    lines = [f"replaying {certificate_path} (made for {label}{against}): {len(cases)} failing case{'s' * (len(cases) != 1)}"]
    if note:
        lines.append(f"note: {note}")
    if certificate.get("complete") is False:
        lines.append("note: the certificate is from an interrupted run; clauses it did not run are not replayed")
    if not cases:
        lines.append("nothing to replay: the certificate has no failing clause")
        return "\n".join(lines) + "\n", 0
    ref = _resolve_target(label, certificate.get("path"), certificate_path, target)
    env = certificate.get("environment") or {}
    options = RunOptions(timeout=timeout, blocks=tuple(sorted({c.block for c in cases if c.block in spec.blocks},
                                                              key=list(spec.blocks).index)),
                         spec_path=path, database=None, device=env.get("device", "cpu"), precision=env.get("precision", "strict"),
                         runtime=env.get("runtime", "eager"))

    replayable: dict[str, list[FailingCase]] = {}
    for case in cases:
        if case.counterexample is None:
            case.new_message = "no counterexample was recorded (e.g. a hang or crash before any example), so it cannot be replayed"
        elif case.block not in spec.blocks or case.clause not in CLAUSES:
            case.new_message = f"{case.block}::{case.clause} is not a clause of this spec / attncert version"
        else:
            replayable.setdefault(json.dumps(case.counterexample, sort_keys=True), []).append(case)

    if replayable:
        with Pool(options, jobs=1) as pool:
            try:
                certification = Certification(ref, spec, options, pool)
            except NothingToCertify:
                certification = None
            if certification is not None:
                recorded, current = certificate.get("sha256"), certification.inventory.source.get("sha256")
                if recorded and current and recorded != current and not target:  # --target: another file
                    lines.insert(1, f"warning: {certification.inventory.source.get('path')} has changed since the "
                                    f"certificate was made (sha256 {recorded[:12]}... then, {current[:12]}... now)")
                _replay_groups(certification, list(replayable.values()), progress)
        for case in (c for group in replayable.values() for c in group if c.status == "not replayed"):
            what = "a declaration for " if case.variant else ""
            case.new_message = f"not run: {ref.label} no longer provides {what}{case.block}"

    width = max(len(c.name) for c in cases)
    for case in cases:
        verdict = {"pass": "now passes", "fail": "STILL FAILS", "skip": "SKIPPED (not confirmed)"}.get(case.status, "NOT REPLAYED")
        lines.append(f"  {case.name:<{width}}  {verdict}")
        if case.status == "pass":
            continue
        if case.new_message:
            lines += _wrap("      ", case.new_message)
        if case.counterexample is not None:
            lines += wrap(json.dumps(case.counterexample), "      case: ", indent=10)
            lines += wrap_command(reproduce_command(ref, Task(case.block, case.clause, case.variant), case.counterexample,
                                                    options), "      reproduce: ", indent=10)
    passed = sum(c.status == "pass" for c in cases)
    if passed == len(cases):
        lines.append(f"all {len(cases)} failing case{'s' * (len(cases) != 1)} now pass; "
                     "run attncert certify again for a new certificate")
        return "\n".join(lines) + "\n", 0
    lines.append(f"{passed} of {len(cases)} failing cases now pass; {len(cases) - passed} still fail or could not be confirmed")
    return "\n".join(lines) + "\n", 1
