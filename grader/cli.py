"""The ``grader`` command: parse arguments, call the grading functions, map errors to exit codes.

No grading logic lives here. Exit codes: ``grade`` 0 whenever grading completed, whatever the
students scored; ``check`` and ``ci`` 0 when the submission passes, 1 when not; ``lint`` 0 when
the spec and its self-test pass, 1 when the self-test fails; 2 for a usage or spec error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from grader import __version__
from grader.errors import GraderError, SpecError, UsageError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Grade deep-learning assignments against YAML problem specs.")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--data-dir", type=Path, default=None,
                         help="folder with MNIST files (default: $GRADER_DATA_DIR, the cache, the shipped test set)")
        sub.add_argument("--isolation", choices=["auto", "full", "none"], default="auto",
                         help="auto: namespaces where the machine allows; none: limits only; full: refuse without")

    grade = commands.add_parser("grade", help="grade a folder of submissions (instructor)")
    grade.add_argument("assignment", help="name in problems/ (hw1) or path to a spec file")
    grade.add_argument("submissions", type=Path, help="folder with one subfolder or .zip per submission")
    grade.add_argument("--out", type=Path, required=True, help="output folder for results, reports, gradebook")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="submissions graded in parallel")
    grade.add_argument("--force", action="store_true", help="regrade submissions whose results are up to date")
    grade.add_argument("--no-html", action="store_true", help="skip the HTML reports")
    add_common(grade)

    check = commands.add_parser("check", help="check one submission on the public cases (student)")
    check.add_argument("assignment", help="name in problems/, a spec file, or a student kit folder")
    check.add_argument("submission", type=Path, nargs="?", default=Path("."), help="submission folder (default .)")
    check.add_argument("--html", type=Path, default=None, help="also write an HTML report here")
    check.add_argument("--json", type=Path, default=None, help="also write results.json here")
    add_common(check)

    lint = commands.add_parser("lint", help="validate a spec and run its self-test")
    lint.add_argument("assignment", help="name in problems/ or path to a spec file")
    add_common(lint)

    data = commands.add_parser("data", help="manage data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fetch = data_commands.add_parser("fetch", help="download a data set with checksum verification")
    fetch.add_argument("dataset", choices=["mnist"])
    fetch.add_argument("--data-dir", type=Path, default=None, help="where to save (default: the cache folder)")
    fetch.add_argument("--mirror", action="append", default=None, help="mirror URL to try (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except SpecError as error:
        print(f"grader: spec error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as error:
        print(f"grader: {error}", file=sys.stderr)
        return EXIT_USAGE
    except GraderError as error:
        print(f"grader: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


def _grade(args: argparse.Namespace) -> int:
    from grader.batch import GradingRun, grade_folder
    from grader.spec import load_spec

    assignment = load_spec(args.assignment)
    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder")
    run = GradingRun(assignment=assignment, out=args.out, workers=max(1, args.workers), isolation=args.isolation,
                     force=args.force, data_dir=args.data_dir)
    rows = grade_folder(run, args.submissions)
    print(f"graded {len(rows)} submissions of {assignment.assignment} into {args.out}")
    for row in sorted(rows, key=lambda row: row["id"]):
        print(f"  {row['id']:<20} {row['total']:>7.2f} / {row['max']:.2f}")
    print(f"gradebook: {args.out / 'gradebook.csv'}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from grader.checking import check_submission
    from grader.gradescope import to_results_json
    from grader.text import report_text

    if not args.submission.is_dir():
        raise UsageError(f"{args.submission} is not a folder")
    report = check_submission(args.assignment, args.submission, isolation=args.isolation, data_dir=args.data_dir)
    print(report_text(report))
    if args.json:
        args.json.write_text(json.dumps(to_results_json(report), indent=1))
    return EXIT_OK if report.passed else EXIT_FAILED


def _lint(args: argparse.Namespace) -> int:
    from grader.selftest import run_selftest
    from grader.spec import load_spec

    assignment = load_spec(args.assignment)
    findings = run_selftest(assignment, data_dir=args.data_dir)
    for finding in findings:
        print(finding.line())
    failed = [finding for finding in findings if not finding.ok]
    print(f"{assignment.assignment}: {len(findings) - len(failed)} of {len(findings)} self-test checks passed")
    return EXIT_FAILED if failed else EXIT_OK


def _data(args: argparse.Namespace) -> int:
    from grader import datasets

    mirrors = args.mirror or datasets.DEFAULT_MIRRORS
    paths = datasets.fetch_mnist(args.data_dir, mirrors, log=print)
    for path in paths:
        print(f"  {path}")
    return EXIT_OK


COMMANDS = {"grade": _grade, "check": _check, "lint": _lint, "data": _data}
