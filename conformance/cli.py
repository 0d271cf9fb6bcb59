"""``attncert``: certify implementations, reproduce a failure, explain clauses, print torchstat tables.

Exit status (DESIGN §3): 0 every provided block passes; 1 some block fails; 2 usage, import or
spec error (one clear line; the traceback only with --debug); 130/143 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import traceback
from pathlib import Path

from .certificate import markdown, write_atomically, write_json
from .runner import DEFAULT_TIMEOUT, Interrupted, Run, RunOptions
from .spec import DEFAULT_SPEC, DomainError, SpecError, load_spec
from .targets import MissingDependency, TargetError, bundled_targets, resolve

PROFILE_NAMES = ("ci", "dev", "thorough")


class UsageError(Exception):
    """Bad command-line input (exit status 2)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="attncert", description="Certify SE / ECA / CBAM implementations against the spec.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of harness errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    certify = commands.add_parser("certify", help="certify an implementation (file, module or bundled name)")
    certify.add_argument("target", nargs="?", help="adapter file, importable module, or bundled name: " + ", ".join(bundled_targets()))
    certify.add_argument("--all", action="store_true", help="certify every bundled implementation in impl/")
    certify.add_argument("--json", metavar="FILE", help="write the JSON certificate here (with --all: a folder)")
    certify.add_argument("--markdown", metavar="FILE", help="write a Markdown report here (with --all: a folder)")
    certify.add_argument("--profile", choices=PROFILE_NAMES, default="ci", help="how hard to search (default: ci)")
    certify.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default: 0)")
    certify.add_argument("--block", action="append", metavar="NAME", help="only these blocks (repeatable)")
    certify.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH", help="spec file (default: bundled)")
    certify.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help=f"per clause (default: {DEFAULT_TIMEOUT:g})")
    certify.add_argument("--database", default=".attncert/examples", metavar="DIR",
                         help="Hypothesis example database (failing examples are replayed first); 'none' to disable")
    certify.add_argument("--quiet", action="store_true", help="no progress display")
    certify.add_argument("--verbose", action="store_true", help="list every clause with its timing")

    reproduce = commands.add_parser("reproduce", help="replay one failing case and show the implementation's traceback")
    reproduce.add_argument("target")
    reproduce.add_argument("clause", metavar="BLOCK::CLAUSE")
    reproduce.add_argument("--case", required=True, help="the counterexample JSON from a certificate")
    reproduce.add_argument("--variant", action="store_true", help="under the adapter's declared variant")
    reproduce.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH")
    reproduce.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")

    matrix = commands.add_parser("matrix", help="aggregate certificates into a Markdown conformance matrix")
    matrix.add_argument("folder", type=Path, nargs="?", default=Path("certificates"), help="folder of *.json certificates")
    matrix.add_argument("--output", type=Path, default=Path("docs/conformance-matrix.md"), metavar="FILE")

    listing = commands.add_parser("list", help="show the clauses of each block (or of one block)")
    listing.add_argument("block", nargs="?", metavar="BLOCK", help="only this block")
    listing.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH", help="spec file (default: bundled)")

    explain = commands.add_parser("explain", help="what a clause checks, where it comes from, typical causes and fixes")
    explain.add_argument("clause", metavar="CLAUSE", help="a clause id: oracle.output, or as reports print it: se::oracle.output")
    explain.add_argument("--spec", type=Path, default=DEFAULT_SPEC, metavar="PATH", help="spec file (default: bundled)")

    replay = commands.add_parser("replay", help="re-run every failing case of a saved certificate; say which still fail")
    replay.add_argument("certificate", type=Path, metavar="CERTIFICATE.json")
    replay.add_argument("--target", help="replay against this implementation (default: the certificate's)")
    replay.add_argument("--spec", type=Path, default=None, metavar="PATH", help="spec file (default: the certificate's)")
    replay.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS", help=f"per clause (default: {DEFAULT_TIMEOUT:g})")

    stat = commands.add_parser("stat", help="reproduce the documents' torchstat tables")
    stat.add_argument("--input", default="32,16,16", metavar="C,H,W", help="input size without batch (default: 32,16,16)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "certify":
            return _certify(args)
        if args.command == "reproduce":
            return _reproduce(args)
        if args.command == "stat":
            return _stat(args)
        if args.command == "list":
            return _list(args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "matrix":
            return _matrix(args)
    except (SpecError, TargetError, UsageError, DomainError) as err:
        if args.debug:
            traceback.print_exc()
        print(f"attncert: error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _install_signal_handlers() -> None:
    def interrupt(signum, frame):
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _options(args, blocks) -> RunOptions:
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    database = None if args.database.lower() == "none" else args.database
    return RunOptions(profile=args.profile, seed=args.seed, timeout=args.timeout, blocks=blocks, spec_path=args.spec,
                      database=database)


def _certify(args) -> int:
    from .report import Progress, print_certificate, print_summary

    spec = load_spec(args.spec)
    for name in args.block or []:
        spec.block(name)  # unknown names are a usage error
    if args.all == bool(args.target):
        raise UsageError("give one TARGET or --all")
    targets = list(bundled_targets()) if args.all else [args.target]
    refs = [resolve(t) for t in targets]
    _install_signal_handlers()
    statuses, certificates = [], []
    for ref in refs:
        options = _options(args, args.block or [])
        run = Run(ref, spec, options, None)
        json_path = _output_path(args.json, ref.label, ".json", args.all)
        md_path = _output_path(args.markdown, ref.label, ".md", args.all)
        try:
            with Progress(ref.label, enabled=not args.quiet) as progress:
                run.progress = progress.update
                certificate = run.execute()
        except Interrupted as stop:
            partial = run.certificate(complete=False)
            if json_path:
                write_json(partial, json_path)
            print(f"\nattncert: interrupted ({stop}); partial certificate" + (f" written to {json_path}" if json_path else " not written (no --json)"), file=sys.stderr)
            return 128 + stop.signum
        except MissingDependency as err:
            if not args.all:
                raise
            print(f"attncert: skipping {ref.label}: {err}", file=sys.stderr)
            continue
        except TargetError as err:
            if not args.all:
                raise
            print(f"attncert: {ref.label}: {err}", file=sys.stderr)
            statuses.append(2)
            continue
        if not any(b.provided for b in certificate.blocks.values()):
            nothing = TargetError(f"{ref.label} provides none of the factories {', '.join(b.factory for b in spec.blocks.values())}")
            if not args.all:
                raise nothing
            print(f"attncert: {nothing}", file=sys.stderr)
            statuses.append(2)
            continue
        if json_path:
            write_json(certificate, json_path)
        if md_path:
            write_atomically(md_path, markdown(certificate.to_json()))
        print_certificate(certificate.to_json(), json_path, verbose=args.verbose)
        certificates.append(certificate)
        statuses.append(certificate.exit_status)
    if args.all:
        print_summary([c.to_json() for c in certificates])
    return max(statuses) if statuses else 2


def _output_path(option: str | None, label: str, suffix: str, many: bool) -> Path | None:
    if not option:
        return None
    if many:
        return Path(option) / (Path(label).stem + suffix)
    return Path(option)


def _reproduce(args) -> int:
    spec = load_spec(args.spec)
    block, sep, clause = args.clause.partition("::")
    if not sep:
        raise UsageError(f"expected BLOCK::CLAUSE, got {args.clause!r}")
    from .clauses import CLAUSES

    spec.block(block)
    if clause not in CLAUSES:
        raise UsageError(f"unknown clause {clause!r} (known: {', '.join(CLAUSES)})")
    try:
        case = json.loads(args.case)
    except json.JSONDecodeError as err:
        raise UsageError(f"--case is not JSON: {err}") from None
    ref = resolve(args.target)
    options = RunOptions(timeout=args.timeout, blocks=[block], spec_path=args.spec, database=None, case=case,
                         only=[(block, args.variant, clause)])
    _install_signal_handlers()
    run = Run(ref, spec, options, jobs=1)
    try:
        certificate = run.execute()
    except Interrupted as stop:
        return 128 + stop.signum
    results = [c for b in certificate.blocks.values() for r in (b.plain, b.variant) if r for c in r.clauses]
    if not results:
        raise UsageError(f"{ref.label} does not provide {block}" + (" with a declared variant" if args.variant else ""))
    result = results[0]
    print(f"{block}::{clause} on {ref.label}: {result.status.upper()}")
    print(f"case: {json.dumps(case)}")
    if result.message:
        print(result.message)
    if result.details:
        print("\n" + result.details.rstrip())
    return 0 if result.status == "pass" else 1


def _matrix(args) -> int:
    from .matrix import load_certificates, render

    try:
        certificates = load_certificates(args.folder)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    write_atomically(args.output, render(certificates))
    print(f"conformance matrix of {len(certificates)} certificates written to {args.output}")
    return 0


def _list(args) -> int:
    from .explain import list_clauses

    print(list_clauses(load_spec(args.spec), args.block), end="")  # an unknown BLOCK: DomainError, exit 2
    return 0


def _explain(args) -> int:
    from .explain import explain

    spec = load_spec(args.spec)
    try:
        text = explain(spec, args.clause)
    except ValueError as err:  # unknown clause or block: the message lists the known ones
        raise UsageError(str(err)) from None
    print(text, end="")
    return 0


def _replay(args) -> int:
    from .explain import CertificateError, replay

    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    _install_signal_handlers()
    try:
        text, status = replay(args.certificate, timeout=args.timeout, target=args.target, spec_path=args.spec,
                              progress=lambda line: print(line, file=sys.stderr, flush=True))
    except CertificateError as err:
        raise UsageError(str(err)) from None
    except Interrupted as stop:
        print(f"\nattncert: interrupted ({stop})", file=sys.stderr)
        return 128 + stop.signum
    print(text, end="")
    return status


def _stat(args) -> int:
    from .torchstat_tables import main_stat, parse_chw

    try:
        chw = parse_chw(args.input)
    except ValueError as err:
        raise UsageError(f"--input: {err}") from None
    return main_stat(chw)


if __name__ == "__main__":
    sys.exit(main())
