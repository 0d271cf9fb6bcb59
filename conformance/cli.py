"""``attncert``: certify implementations, reproduce a failure, explain clauses, print torchstat tables.

Exit status: 0 every provided block passes; 1 some block fails; 2 usage, import or
spec error (one clear line; the traceback only with --debug); 130/143 when interrupted.
``list``, ``explain``, ``reproduce``, ``replay`` and ``matrix`` never import torch in this process.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
import signal
import sys
import traceback
from pathlib import Path

from .certification import Certification
from .locations import DEFAULT_SPEC
from .options import DEFAULT_TIMEOUT, PROFILES, RunOptions, check_device, default_database, precision_name
from .pool import GIB, Interrupted, Pool
from .results import Task
from .spec import DomainError, SpecError, load_spec
from .targets import MissingDependency, TargetError, bundled_targets, resolve


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def _add_conditions(parser: argparse.ArgumentParser, many_runtimes: bool = False) -> None:
    """--device, --tf32, --autocast, --runtime: where clauses run, how float32 rounds, how the block is deployed."""
    parser.add_argument("--device", default="cpu", metavar="cpu|cuda|cuda:N",
                        help="run every clause on this device; the float64 oracle stays on the CPU (default: cpu)")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--tf32", action="store_true",
                           help="certify with TF32 matmuls and convolutions (budgets from TF32's 10-bit mantissa)")
    precision.add_argument("--autocast", choices=("bf16", "fp16"),
                           help="certify under torch.autocast to bfloat16 / float16, with reduced-precision inputs too")
    parser.add_argument("--runtime", default="eager", metavar="eager|compile|export|onnx" + ("|all" if many_runtimes else ""),
                        help="certify the block as deployed: torch.compile(dynamic=True), torch.export, or ONNX run by "
                             "onnxruntime, built once per setting at a trace input and judged at other sizes"
                             + (" ('all': each of them, one certificate per runtime)" if many_runtimes else "")
                             + " (default: eager)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attncert", description="Certify implementations of the attention blocks "
                                     "of attncert's spec (SE, ECA, CBAM, Coordinate Attention, SimAM and more: "
                                     "`attncert list` names them all), eager or deployed.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of harness errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    certify = commands.add_parser("certify", help="certify an implementation (file, module or bundled name)")
    certify.add_argument("target", nargs="?", help="adapter file, importable module, or bundled name: " + ", ".join(bundled_targets()))
    certify.add_argument("--all", action="store_true", help="certify every bundled implementation in impl/")
    certify.add_argument("--json", metavar="FILE", help="write the JSON certificate here (with --all: a folder)")
    certify.add_argument("--markdown", metavar="FILE", help="write a Markdown report here (with --all: a folder)")
    certify.add_argument("--profile", choices=tuple(PROFILES), default="ci", help="how hard to search (default: ci)")
    certify.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    certify.add_argument("--block", action="append", metavar="NAME", help="only these blocks (repeatable)")
    certify.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH", help="spec file (default: bundled)")
    certify.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                         help=f"per clause (default: {DEFAULT_TIMEOUT:g}; five times that under --runtime compile)")
    certify.add_argument("--memory-limit", type=float, metavar="GIB",
                         help="resident memory the implementation's processes may use together (default: half the machine's, at most 16)")
    certify.add_argument("--jobs", type=int, metavar="N", help="worker processes (default: one per core, at most 2)")
    certify.add_argument("--database", default=None, metavar="DIR",
                         help="Hypothesis' example database: failing examples are kept there and replayed first "
                              "(default: the user's cache, $XDG_CACHE_HOME/attncert/examples or ~/.cache/attncert/examples); "
                              "'none' to keep nothing")
    _add_conditions(certify, many_runtimes=True)
    certify.add_argument("--quiet", action="store_true", help="no progress display")
    certify.add_argument("--verbose", action="store_true", help="list every clause with its timing")

    reproduce = commands.add_parser("reproduce", help="replay one failing case and show what was found")
    reproduce.add_argument("target")
    reproduce.add_argument("clause", metavar="BLOCK::CLAUSE")
    reproduce.add_argument("--case", required=True, help="the counterexample JSON from a certificate")
    reproduce.add_argument("--variant", action="store_true", help="under the adapter's declaration (variant and/or domain)")
    reproduce.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH")
    reproduce.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    _add_conditions(reproduce)

    matrix = commands.add_parser("matrix", help="print a Markdown conformance matrix of certificates")
    matrix.add_argument("paths", type=Path, nargs="+", metavar="CERT.json|DIR", help="certificate files, or folders of them")
    matrix.add_argument("--output", metavar="FILE", help="write the matrix to FILE instead of printing it ('-': print)")
    matrix.add_argument("--summary", action="store_true",
                        help="one table instead: an implementation a row, a block a column, the runtimes "
                             "whose verdict differs from eager's in its cells")

    listing = commands.add_parser("list", help="show the clauses of each block (or of one block)")
    listing.add_argument("block", nargs="?", metavar="BLOCK", help="only this block")
    listing.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH", help="spec file (default: bundled)")

    explain = commands.add_parser("explain", help="what a clause checks, where it comes from, typical causes and fixes")
    explain.add_argument("clause", metavar="CLAUSE", help="a clause id: oracle.output, or as reports print it: se::oracle.output")
    explain.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH", help="spec file (default: bundled)")

    replay = commands.add_parser("replay", help="re-run the failing cases of a saved certificate; say which still fail")
    replay.add_argument("certificate", type=Path, metavar="CERTIFICATE.json")
    replay.add_argument("clauses", nargs="*", metavar="BLOCK::CLAUSE", help="only these failing clauses (default: all)")
    replay.add_argument("--target", help="replay against this implementation (default: the certificate's)")
    replay.add_argument("--spec", type=Path, default=None, metavar="PATH", help="spec file (default: the certificate's)")
    replay.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help=f"per clause (default: {DEFAULT_TIMEOUT:g})")

    stat = commands.add_parser("stat", help="torchstat tables of a target's blocks (the documents' tables for the reference)")
    stat.add_argument("target", nargs="?", default="reference",
                      help="adapter file, importable module or bundled name, loaded in this process (default: reference)")
    stat.add_argument("--input", default="32,16,16", metavar="C,H,W", help="input size without batch (default: 32,16,16)")

    selftest = commands.add_parser("selftest", help="measure the harness's strength: certify generated mutants of the reference")
    selftest.add_argument("--profile", choices=("ci", "thorough"), default="ci", help="how hard to search (default: ci)")
    selftest.add_argument("--subset", action="store_true", help="only the fixed CI subset (every operator and block)")
    selftest.add_argument("--json", metavar="FILE", help="write the result as JSON")
    selftest.add_argument("--markdown", metavar="FILE", help="write the report as Markdown")
    selftest.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS", help="per clause (default: 60)")
    selftest.add_argument("--all-clauses", action="store_true",
                          help="run every clause of a mutant, not only up to its first failure: exact per-clause kill "
                               "counts, several times slower")
    selftest.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    selftest.add_argument("--jobs", type=int, metavar="N", help="mutants certified at once (default: one per core, at most 2)")
    selftest.add_argument("--quiet", action="store_true", help="no progress display")
    return parser


COMMANDS = {}


def command(name: str):
    def register(function):
        COMMANDS[name] = function
        return function

    return register


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except Interrupted as stop:  # before any clause ran (commands that can save partial work catch it themselves)
        print(f"\nattncert: interrupted ({stop}) before any clause ran; nothing written", file=sys.stderr)
        return 128 + stop.signum
    except (SpecError, TargetError, UsageError, DomainError) as err:
        if args.debug:
            traceback.print_exc()
        print(f"attncert: error: {err}", file=sys.stderr)
        return 2


def _install_signal_handlers() -> None:
    def interrupt(signum, frame):
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _precision(args) -> str:
    return precision_name(getattr(args, "tf32", False), getattr(args, "autocast", None))


def _device(text: str) -> str:
    try:
        return check_device(text)
    except ValueError as err:
        raise UsageError(str(err)) from None


# The optional commands' own dependencies (pyproject.toml's extras of the same names).
EXTRAS = {"stat": ("pandas", "torchstat"), "selftest": ("libcst",)}


def _require_extra(extra: str) -> None:
    """A command whose extra is not installed is a usage error that says how to install it."""
    import importlib.util

    missing = [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"attncert {extra} needs {', '.join(missing)}, which this environment lacks: "
                         f"pip install \"attncert[{extra}]\"")


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise UsageError(f"{name} must be positive")


def _options(args, blocks) -> RunOptions:
    _positive("--timeout", args.timeout)
    _positive("--memory-limit", args.memory_limit)
    _positive("--jobs", getattr(args, "jobs", None))
    database = default_database() if args.database is None else None if args.database.lower() == "none" else args.database
    return RunOptions(profile=args.profile, seed=args.seed, timeout=args.timeout, blocks=tuple(blocks), spec_path=args.spec,
                      database=database, device=_device(args.device), precision=_precision(args),
                      memory_limit=int(args.memory_limit * GIB) if args.memory_limit else None)


def _runtimes(spec, name: str, device: str, each: bool = False) -> list[str]:
    """The runtimes a command runs under (``all``: the spec's, in its order), checked up front: a
    runtime this machine cannot use is a usage error naming what it lacks."""
    from .runtimes import RuntimeUnavailable, require

    names = list(spec.runtimes) if each and name == "all" else [name]
    for runtime in names:
        try:
            require(spec, runtime, device)
        except RuntimeUnavailable as err:
            raise UsageError(str(err)) from None
    return names


def _output_path(option: str | None, label: str, suffix: str, many: bool, runtime: str | None = None) -> Path | None:
    """Where a certificate or report goes: the FILE given, or ``label`` + suffix in the folder given
    (--all); with several runtimes, the runtime's name before the suffix."""
    if not option:
        return None
    path = Path(option) / (Path(label).stem + suffix) if many else Path(option)
    return path.with_name(f"{path.stem}-{runtime}{path.suffix}") if runtime else path


def _check_outputs(paths: list[Path | None]) -> None:
    """Unwritable outputs are a usage error before the run, not a traceback after it."""
    from .certificate import check_writable

    for path in paths:
        problem = check_writable(path) if path else None
        if problem:
            raise UsageError(f"cannot write {path}: {problem}")


@command("certify")
def _certify(args) -> int:
    from .report import print_summary

    spec = load_spec(args.spec)
    for name in args.block or []:
        spec.block(name)  # unknown names are a usage error
    if args.all == bool(args.target):
        raise UsageError("give one TARGET or --all")
    refs = [resolve(t) for t in (list(bundled_targets()) if args.all else [args.target])]
    options = _options(args, args.block or [])
    runtimes = _runtimes(spec, args.runtime, options.device, each=True)
    several = len(runtimes) > 1
    outputs = {(ref, runtime): (_output_path(args.json, ref.label, ".json", args.all, runtime if several else None),
                                _output_path(args.markdown, ref.label, ".md", args.all, runtime if several else None))
               for ref in refs for runtime in runtimes}
    _check_outputs([p for pair in outputs.values() for p in pair])
    _install_signal_handlers()
    statuses, certificates = [], []
    for runtime in runtimes:
        with Pool(replace(options, runtime=runtime), args.jobs) as pool:
            for ref in refs:
                try:
                    certificate = _certify_one(args, ref, spec, pool, *outputs[ref, runtime])
                except Interrupted as stop:
                    return 128 + stop.signum
                if isinstance(certificate, int):  # not certified (--all goes on), or an output not written
                    statuses.append(certificate)
                    continue
                if certificate is not None:
                    certificates.append(certificate)
                    statuses.append(certificate.exit_status)
    if args.all or several:
        print_summary([c.to_json() for c in certificates])
    return max(statuses) if statuses else 2


def _certify_one(args, ref, spec, pool: Pool, json_path: Path | None, md_path: Path | None):
    """Certify one target on ``pool`` (its options say the runtime), write and print its certificate.
    Returns the certificate; None when --all skips a target whose library is missing; 2 when --all
    goes on past a target that cannot be imported, or when an output could not be written (said
    after the report). Re-raises ``Interrupted`` after writing the partial certificate."""
    from .certificate import write_atomically, write_json
    from .report import Progress, markdown, print_certificate

    try:
        certification = Certification(ref, spec, pool.options, pool)
    except MissingDependency as err:
        if not args.all:
            raise
        print(f"attncert: skipping {ref.label}: {err}", file=sys.stderr)
        return None
    except TargetError as err:
        if not args.all:
            raise
        print(f"attncert: {ref.label}: {err}", file=sys.stderr)
        return 2
    runtime = pool.options.runtime
    label = ref.label if runtime == "eager" else f"{ref.label} (--runtime {runtime})"
    try:
        with Progress(label, enabled=not args.quiet) as progress:
            progress.plan(len(certification.tasks))
            certification.run(progress=progress.update)
    except Interrupted as stop:
        partial = certification.certificate(complete=False)
        unwritten = _write(json_path, lambda path: write_json(partial, path))
        print_certificate(partial.to_json(), None if unwritten else json_path, verbose=args.verbose)
        print(f"\nattncert: interrupted ({stop}); unfinished blocks are incomplete; partial certificate "
              + (f"written to {json_path}" if json_path and not unwritten else "not written"), file=sys.stderr)
        raise
    certificate = certification.certificate()
    unwritten = _write(json_path, lambda path: write_json(certificate, path))
    unwritten |= _write(md_path, lambda path: write_atomically(path, markdown(certificate.to_json())))
    print_certificate(certificate.to_json(), None if json_path in unwritten else json_path,
                      None if md_path in unwritten else md_path, verbose=args.verbose)
    for path in unwritten:
        print(f"attncert: error: cannot write {path}: {unwritten[path]}", file=sys.stderr)
    return 2 if unwritten else certificate


def _write(path: Path | None, write) -> dict:
    """Write an output (``write(path)``); {path: why} when that fails (an exit status 2, after the report)."""
    if path is None:
        return {}
    try:
        write(path)
    except OSError as err:
        return {path: err.strerror or str(err)}
    return {}


@command("reproduce")
def _reproduce(args) -> int:
    from .cases import Case
    from .clauses import CLAUSES

    spec = load_spec(args.spec)
    block, sep, clause = args.clause.partition("::")
    if not sep:
        raise UsageError(f"expected BLOCK::CLAUSE, got {args.clause!r}")
    spec.block(block)
    if clause not in CLAUSES:
        raise UsageError(f"unknown clause {clause!r} (known: {', '.join(CLAUSES)})")
    try:
        case = json.loads(args.case)
        Case.from_counterexample(case)
    except json.JSONDecodeError as err:
        raise UsageError(f"--case is not JSON: {err}") from None
    except ValueError as err:
        raise UsageError(f"--case: {err}") from None
    _positive("--timeout", args.timeout)
    ref = resolve(args.target)
    device = _device(args.device)
    (runtime,) = _runtimes(spec, args.runtime, device)
    options = RunOptions(timeout=args.timeout, blocks=(block,), spec_path=args.spec, database=None,
                         device=device, precision=_precision(args), runtime=runtime)
    task = Task(block, clause, args.variant)
    _install_signal_handlers()
    with Pool(options, jobs=1) as pool:
        certification = Certification(ref, spec, options, pool)
        if task not in certification.tasks:
            what = "a declaration (VARIANTS or DOMAIN) for " if args.variant else ""
            raise UsageError(f"{ref.label} has no {what}{block}::{clause} to replay")
        try:
            certification.run(case, only=[task])
        except Interrupted as stop:
            return 128 + stop.signum
    from .text import wrap

    result = certification.results[task]
    lines = wrap(result.status.upper(), f"{block}::{clause} on {ref.label}: ") + wrap(json.dumps(case), "case: ")
    lines += wrap(result.message) if result.message else []
    print("\n".join(lines))
    if result.details:  # a traceback: as Python printed it (its lines are the implementation's code)
        print("\nthe implementation raised:\n" + result.details.rstrip())
    return 0 if result.status == "pass" else 1


@command("matrix")
def _matrix(args) -> int:
    from .certificate import write_atomically
    from .matrix import load_certificates, render, summary

    try:
        found = load_certificates(args.paths)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    names, certificates = [name for name, _ in found], [certificate for _, certificate in found]
    text = summary(certificates) if args.summary else render(certificates, names)
    if args.output and args.output != "-":
        _check_outputs([args.output])
        write_atomically(args.output, text)
        print(f"conformance matrix of {len(certificates)} certificates written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


@command("list")
def _list(args) -> int:
    from .explain import list_clauses

    print(list_clauses(load_spec(args.spec), args.block), end="")  # an unknown BLOCK: DomainError, exit 2
    return 0


@command("explain")
def _explain(args) -> int:
    from .explain import explain

    spec = load_spec(args.spec)
    try:
        text = explain(spec, args.clause)
    except ValueError as err:  # unknown clause or block: the message lists the known ones
        raise UsageError(str(err)) from None
    print(text, end="")
    return 0


@command("replay")
def _replay(args) -> int:
    from .explain import CertificateError, replay

    _positive("--timeout", args.timeout)
    _install_signal_handlers()
    try:
        text, status = replay(args.certificate, timeout=args.timeout, target=args.target, spec_path=args.spec,
                              clauses=args.clauses, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except CertificateError as err:
        raise UsageError(str(err)) from None
    except Interrupted as stop:
        print(f"\nattncert: interrupted ({stop})", file=sys.stderr)
        return 128 + stop.signum
    print(text, end="")
    return status


@command("stat")
def _stat(args) -> int:
    _require_extra("stat")
    from .text import terminal_width
    from .torchstat_tables import main_stat, parse_chw

    try:
        chw = parse_chw(args.input)
    except ValueError as err:
        raise UsageError(f"--input: {err}") from None
    return main_stat(chw, target=args.target, width=terminal_width())


@command("selftest")
def _selftest(args) -> int:
    _require_extra("selftest")
    from .selftest import main_selftest

    _positive("--timeout", args.timeout)
    _positive("--jobs", args.jobs)
    _check_outputs([args.json, args.markdown])
    _install_signal_handlers()
    return main_selftest(args)


if __name__ == "__main__":
    sys.exit(main())
