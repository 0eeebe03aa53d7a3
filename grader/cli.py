"""The ``grader`` command: parse arguments, call the grading functions, map errors to exit codes.

No grading logic lives here. Exit codes: ``grade`` 0 whenever grading completed, whatever the
students scored, 1 when some submissions could not be graded for a reason of the machines (a
re-run grades them); ``check`` and ``ci`` 0 when the submission passes, 1 when not; ``lint`` 0 when
the spec, its self-test and its strength report pass (no undeclared surviving mutant), 1 when not;
2 for a usage or spec error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from grader import __version__
from grader.errors import GraderError, SpecError, UsageError

if TYPE_CHECKING:
    from grader.results import GradeReport
    from grader.similarity.run import SimilaritySettings
    from grader.spec import Assignment

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="grader", description="Grade deep-learning assignments against YAML problem specs.")
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add_common(sub: argparse.ArgumentParser, *, portable: bool = False) -> None:
        sub.add_argument("--data-dir", type=Path, default=None,
                         help="folder with MNIST files (default: $GRADER_DATA_DIR, the cache, the shipped test set)")
        sub.add_argument("--isolation", choices=["auto", "full", "none", *(["portable"] if portable else [])],
                         default="auto",
                         help="auto: namespaces where the machine allows; none: limits only; full: refuse without"
                              + ("; portable: a spawned process per submission (automatic where the fork server "
                                 "cannot run: Windows, macOS)" if portable else ""))

    grade = commands.add_parser("grade", help="grade a folder of submissions (instructor)")
    grade.add_argument("assignment", help="name in problems/ (hw1) or path to a spec file")
    grade.add_argument("submissions", type=Path, help="folder with one subfolder or .zip per submission")
    grade.add_argument("--out", type=Path, required=True, help="output folder for results, reports, gradebook")
    grade.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="submissions graded in parallel")
    grade.add_argument("--force", action="store_true", help="regrade submissions whose results are up to date")
    grade.add_argument("--no-html", action="store_true", help="skip the HTML reports")
    grade.add_argument("--executor", choices=["local", "dask"], default="local",
                       help="local: threads on this machine; dask: one Dask task per submission (pip install 'dl-grader[dask]')")
    grade.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="Dask scheduler to use, e.g. tcp://host:8786 (default: a local cluster of --workers processes)")
    grade.add_argument("--similarity", action="store_true",
                       help="also write OUT/similarity.json and .html: pairs sharing code or rare wrong answers")
    add_common(grade)

    check = commands.add_parser("check", help="check one submission on the public cases (student)")
    check.add_argument("assignment", help="name in problems/, a spec file, or a student kit folder")
    check.add_argument("submission", type=Path, nargs="?", default=Path("."), help="submission folder (default .)")
    check.add_argument("--html", type=Path, default=None, help="also write an HTML report here")
    check.add_argument("--json", type=Path, default=None, help="also write results.json here")
    add_common(check, portable=True)

    lint = commands.add_parser("lint", help="validate a spec and run its self-test")
    lint.add_argument("assignment", help="name in problems/ or path to a spec file")
    lint.add_argument("--no-strength", action="store_true",
                      help="skip the spec-strength report (mutants of the reference the cases must kill)")
    lint.add_argument("--problem", action="append", default=None, metavar="ID",
                      help="lint only this problem (repeat for several)")
    lint.add_argument("--clusters", type=Path, default=None, metavar="CLUSTERS_JSON",
                      help="also say which wrong-answer clusters of a graded class (DIR/clusters.json) "
                      "a declared mistake now explains")
    add_common(lint)

    data = commands.add_parser("data", help="manage data sets")
    data_commands = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    fetch = data_commands.add_parser("fetch", help="download a data set with checksum verification")
    fetch.add_argument("dataset", choices=["mnist"])
    fetch.add_argument("--data-dir", type=Path, default=None, help="where to save (default: the cache folder)")
    fetch.add_argument("--mirror", action="append", default=None, help="mirror URL to try (repeatable)")
    schema = commands.add_parser("schema", help="print the spec format as JSON Schema (for editors)")
    schema.add_argument("--out", type=Path, default=None, help="write it to this file instead")
    schema.add_argument("--markdown", action="store_true",
                        help="the field reference as Markdown tables instead (docs/authoring.md holds it)")
    add_kit_commands(commands, add_common)
    add_gradescope_commands(commands, add_common)
    add_similarity_options(grade, command=False)
    similarity = commands.add_parser("similarity", help="rank pairs of submissions sharing code or rare wrong answers")
    similarity.add_argument("assignment", help="name in problems/ (hw1) or path to a spec file")
    similarity.add_argument("submissions", type=Path, help="folder with one subfolder or .zip per submission")
    similarity.add_argument("--out", type=Path, required=True,
                            help="output folder; grading results already there (grader grade --out) add the wrong answers")
    similarity.add_argument("--scheduler", default=None, metavar="ADDRESS",
                            help="compare on this Dask scheduler, e.g. tcp://host:8786 (default: this machine)")
    similarity.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                            help="processes reading code on this machine (default: the cores)")
    add_similarity_options(similarity, command=True)
    return parser


def add_similarity_options(parser: argparse.ArgumentParser, *, command: bool) -> None:
    """The similarity options shared by ``grader similarity`` and ``grader grade --similarity``."""
    prefix = "" if command else "with --similarity: "
    parser.add_argument("--boilerplate", type=Path, action="append", default=[], metavar="PATH",
                        help=prefix + "code handed out, ignored (a student kit folder, starter code; repeatable)")
    parser.add_argument("--common", type=int, default=None, metavar="N",
                        help=prefix + "code or wrong answers found in more than N submissions are not evidence "
                        "(default 10; a fifth of a class under 50, at least 3)")
    parser.add_argument("--top", type=int, default=20, metavar="N",
                        help=prefix + "pairs shown in detail in similarity.html (default 20)")


SANDBOXED_COMMANDS = frozenset({"grade", "check", "ci", "autograde"})
"""Commands that run student code: their fork server starts before anything else is done."""


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    no_fork_server = {"--help", "-h", "dask", "--executor=dask", "portable", "--isolation=portable"}
    if words and words[0] in SANDBOXED_COMMANDS and not no_fork_server & set(words):
        _launch_fork_server(words)
    try:
        args = build_parser().parse_args(argv)
        status = COMMANDS[args.command](args)
        if argv is None and args.command in QUICK_EXIT_COMMANDS:
            _exit_now(status)
        return status
    except SpecError as error:
        _error(str(error), kind="spec error")
        return EXIT_USAGE
    except UsageError as error:
        _error(str(error))
        return EXIT_USAGE
    except GraderError as error:
        _error(str(error), kind="error")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


QUICK_EXIT_COMMANDS = frozenset({"check", "ci"})
"""A student's check of one submission: everything is written and closed when the command returns."""


def _exit_now(status: int) -> None:
    """End the ``grader`` process without the interpreter's teardown of numpy, pydantic and (often)
    torch, a seventh of a self-check's time. Only from the command line (``main()`` called with no
    arguments): called from Python, ``main`` returns as usual."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _launch_fork_server(words: list[str]) -> None:
    """Start the sandbox's fork server before anything else, so that it boots while the grader
    imports itself, reads the spec and computes the reference's outputs. For a check of one
    submission, torch is preloaded at once when the student's files import it (read with ``ast``,
    not run); ``grade`` decides after reading the whole class (``batch.local``)."""
    from grader.sandbox.launch import launch_early
    from grader.sandbox.preload import TORCH, folder_sources, imports_torch

    folders = [Path(word) for word in words[1:] if not word.startswith("-") and Path(word).is_dir()]
    student = words[0] in ("check", "ci") and any(imports_torch(folder_sources(folder)) for folder in folders)
    launch_early((TORCH,) if student else ())


def _error(message: str, *, kind: str = "") -> None:
    from grader.reports.terminal import print_error

    print_error(message, kind=kind)


def _grade(args: argparse.Namespace) -> int:
    from grader.batch.executor import GradingRun
    from grader.grading import environment
    from grader.batch.run import GradingIncomplete, grade_folder
    from grader.reports.terminal import print_run_summary
    from grader.spec import load_spec

    assignment = load_spec(args.assignment)
    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder")
    _warn_environment(assignment)
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler needs --executor dask")
    similarity = _similarity_settings(args, args.scheduler if args.executor == "dask" else None) \
        if args.similarity else None
    run = GradingRun(assignment=assignment, out=args.out, workers=max(1, args.workers), isolation=args.isolation,
                     force=args.force, data_dir=args.data_dir, html=not args.no_html, executor=args.executor,
                     scheduler=args.scheduler)
    try:
        rows, failures = grade_folder(run, args.submissions), {}
    except GradingIncomplete as incomplete:
        rows, failures = incomplete.rows, incomplete.failures
    print_run_summary(assignment.assignment, rows, args.out, html=run.html, failures=failures)
    print(environment.environment_note(assignment, environment.running_versions()))
    if similarity is not None:
        _write_similarity(assignment, args.submissions, args.out, similarity)
    return EXIT_FAILED if failures else EXIT_OK


def _warn_environment(assignment: "Assignment") -> None:
    """Say on stderr, before grading, that this machine's NumPy or torch is not the spec's."""
    from grader.grading import environment

    for line in environment.mismatches(assignment):
        print(f"grader: warning: {line}", file=sys.stderr)


def _similarity_settings(args: argparse.Namespace, scheduler: str | None) -> "SimilaritySettings":
    """The similarity options, checked before anything is graded."""
    from grader.similarity.run import SimilaritySettings

    if args.common is not None and args.common < 2:
        raise UsageError(f"--common must be at least 2 (what two submissions share), got {args.common}")
    if args.top < 0:
        raise UsageError(f"--top must be at least 0, got {args.top}")
    for path in args.boilerplate:
        if not path.exists():
            raise UsageError(f"--boilerplate {path} does not exist")
    return SimilaritySettings(boilerplate=tuple(args.boilerplate), common=args.common, top=args.top,
                              scheduler=scheduler, workers=max(1, args.workers))


def _write_similarity(assignment: "Assignment", submissions: Path, out: Path, settings: "SimilaritySettings") -> None:
    from grader.similarity.run import find_similarity

    report, (json_path, html_path) = find_similarity(assignment, submissions, out, settings)
    print(f"similarity of {report.submissions} submissions: {len(report.pairs)} pair(s) with evidence to review "
          f"in {html_path} and {json_path}")


def _similarity(args: argparse.Namespace) -> int:
    from grader.spec import load_spec

    assignment = load_spec(args.assignment)
    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder")
    _write_similarity(assignment, args.submissions, args.out, _similarity_settings(args, args.scheduler))
    return EXIT_OK


def _check_one(args: argparse.Namespace) -> "GradeReport":
    """The public-case check of one submission folder, shared by ``check`` and ``ci``."""
    from grader.kit.selfcheck import check_submission

    if not args.submission.is_dir():
        raise UsageError(f"{args.submission} is not a folder")
    return check_submission(args.assignment, args.submission, isolation=args.isolation, data_dir=args.data_dir)


def _check(args: argparse.Namespace) -> int:
    from grader.reports.terminal import print_report

    report = _check_one(args)
    if args.html:
        from grader.reports.render import render_feedback

        args.html.write_text(render_feedback(report, data_dir=args.data_dir), encoding="utf-8")
    print_report(report, html=str(args.html) if args.html else None)
    if args.json:
        from grader.reports.gradescope import to_results_json

        args.json.write_text(json.dumps(to_results_json(report), indent=1))
    return EXIT_OK if report.passed else EXIT_FAILED


def _lint(args: argparse.Namespace) -> int:
    from grader.grading.expectations import ReferenceExpectations
    from grader.grading.selftest import run_selftest
    from grader.grading.strength import run_strength
    from grader.sandbox.session import InProcessSession
    from grader.spec import load_spec

    from grader.grading.clusters import check_clusters, load_clusters

    assignment = load_spec(args.assignment)
    clusters = None if args.clusters is None else load_clusters(args.clusters, assignment)  # a bad file: before
    expectations = ReferenceExpectations(assignment, data_dir=args.data_dir)
    selected = assignment
    if args.problem:
        unknown = sorted(set(args.problem) - {problem.id for problem in assignment.problems})
        if unknown:
            raise UsageError(f"no problem {', '.join(map(repr, unknown))} in {assignment.source}")
        selected = assignment.model_copy(
            update={"problems": [problem for problem in assignment.problems if problem.id in args.problem]})
    findings = run_selftest(selected, session_for=InProcessSession, expectations=expectations)
    if not args.no_strength:
        # The whole spec: which functions are other problems' (and not mutated here) does not
        # depend on the selection, nor do the mutants' ids.
        findings += run_strength(assignment, session_for=InProcessSession, expectations=expectations,
                                 problems=args.problem)
    for finding in findings:
        print(finding.line())
    failed = [finding for finding in findings if not finding.ok]
    print(f"{assignment.assignment}: {len(findings) - len(failed)} of {len(findings)} self-test checks passed")
    if clusters is not None:
        # Informational: an undeclared cluster is for the instructor to judge, not a broken spec.
        verdicts = check_clusters(assignment, clusters, data_dir=args.data_dir)
        for verdict in verdicts:
            print(verdict.line())
        explained = sum(1 for verdict in verdicts if verdict.explained_by)
        print(f"{assignment.assignment}: {explained} of {len(verdicts)} wrong-answer clusters explained by a "
              "declared mistake")
    return EXIT_FAILED if failed else EXIT_OK


def _schema(args: argparse.Namespace) -> int:
    from grader.spec import json_schema

    if args.markdown:
        from grader.spec_guide import field_reference, replace_reference

        text = field_reference(json_schema()) + "\n"
        if args.out is not None and args.out.is_file():  # the guide: only its generated part is replaced
            text = replace_reference(args.out.read_text(encoding="utf-8"), text.rstrip("\n"))
    else:
        text = json.dumps(json_schema(), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"{'Field reference' if args.markdown else 'JSON Schema'} of the spec format written to {args.out}")
    return EXIT_OK


def _data(args: argparse.Namespace) -> int:
    from grader import datasets

    mirrors = args.mirror or datasets.DEFAULT_MIRRORS
    paths = datasets.fetch_mnist(args.data_dir, mirrors, log=print)
    for path in paths:
        print(f"  {path}")
    return EXIT_OK


def add_kit_commands(commands: argparse._SubParsersAction, add_common: Callable[..., None]) -> None:
    """The kit and CI commands: bundle, new, starter, ci, init-ci, export."""
    bundle = commands.add_parser("bundle", help="export a student kit: public cases and their expected outputs")
    bundle.add_argument("assignment", help="name in problems/ (hw1) or path to a spec file")
    bundle.add_argument("--out", type=Path, required=True, help="kit folder to write (created or replaced)")

    new = commands.add_parser("new", help="write a commented skeleton of a new assignment that lints clean")
    new.add_argument("name", help="the assignment's name, which is also the students' module (hw5)")
    new.add_argument("--dir", type=Path, default=Path("."),
                     help="the course folder holding problems/ and reference/ (default .)")

    starter = commands.add_parser("starter", help="write the student's starter module and notebook from the reference")
    starter.add_argument("assignment", help="name in problems/ (hw1) or path to a spec file")
    starter.add_argument("--out", type=Path, required=True, help="folder to write hwN.py and hwN.ipynb into")

    ci = commands.add_parser("ci", help="check a submission in CI: JUnit XML, job summary, exit code")
    ci.add_argument("assignment", help="a student kit folder, a name in problems/, or a spec file")
    ci.add_argument("submission", type=Path, nargs="?", default=Path("."), help="submission folder (default .)")
    ci.add_argument("--junit", type=Path, default=None, help="write the JUnit XML report here")
    ci.add_argument("--min-score", type=float, default=None,
                    help="points needed to pass (default: every public check passes)")
    add_common(ci, portable=True)

    init = commands.add_parser("init-ci", help="set up a submission repository's CI (GitHub Actions, GitLab)")
    init.add_argument("kit", type=Path, help="student kit folder (grader bundle)")
    init.add_argument("--out", type=Path, required=True, help="the submission repository")
    init.add_argument("--kit-dir", default="tests-grader",
                      help="where the kit goes in the repository (default tests-grader, as the kit's README says)")
    init.add_argument("--grader-spec", default="dl-grader",
                      help="pip requirement installing the grader (default dl-grader; e.g. git+https://...)")
    init.add_argument("--min-score", type=float, default=None, help="passed on to grader ci")
    init.add_argument("--force", action="store_true", help="replace existing workflow files")
    init.add_argument("--os", dest="systems", action="append", default=[], choices=["windows-latest", "macos-latest"],
                      help="also check on this GitHub runner (repeatable): the job becomes a matrix with ubuntu-latest")

    export = commands.add_parser("export", help="export grades for an LMS gradebook (Canvas, Moodle)")
    export.add_argument("results", type=Path, help="output folder of grader grade (or its gradebook.csv)")
    export.add_argument("--format", choices=["canvas", "moodle"], required=True)
    export.add_argument("--out", type=Path, default=None, help="CSV file to write (default RESULTS/<format>.csv)")
    export.add_argument("--name", default=None, help="assignment / grade item name (default the assignment id)")
    export.add_argument("--canvas-id", default=None, help="Canvas assignment id, for the column 'Name (id)'")
    export.add_argument("--canvas-key", default="SIS Login ID", choices=["ID", "SIS User ID", "SIS Login ID"],
                        help="Canvas column holding the submission id (default SIS Login ID)")
    export.add_argument("--moodle-identifier", default="Username",
                        help="header of Moodle's user identifier column (default Username)")


def _new(args: argparse.Namespace) -> int:
    from grader.kit.skeleton import write_skeleton

    for path in write_skeleton(args.name, args.dir):
        print(f"written: {path}")
    print(f"next: grader lint {args.dir / 'problems' / (args.name + '.yaml')}   (see docs/authoring.md)")
    return EXIT_OK


def _starter(args: argparse.Namespace) -> int:
    from grader.kit.starter import write_starter
    from grader.spec import load_spec

    for path in write_starter(load_spec(args.assignment), args.out):
        print(f"starter written: {path}")
    return EXIT_OK


def _bundle(args: argparse.Namespace) -> int:
    from grader.kit.bundle import build_kit

    kit = build_kit(args.assignment, args.out)
    print(f"kit of {kit.assignment} written to {kit.folder}: {len(kit.problems)} problems")
    if kit.left_out:
        print(f"  left out (no public case): {', '.join(kit.left_out)}")
    return EXIT_OK


def _ci(args: argparse.Namespace) -> int:
    from grader.kit.workflows import append_step_summary
    from grader.reports.junit import write_junit
    from grader.reports.text import report_text

    if args.min_score is not None and not args.min_score >= 0:
        raise UsageError(f"--min-score must be a number of points >= 0, got {args.min_score}")
    report = _check_one(args)
    passed = report.passed if args.min_score is None else report.score >= args.min_score - 1e-9
    encoding = sys.stdout.encoding or "utf-8"
    # CI logs are often not UTF-8, and student output holds what they like: never crash on it.
    print(report_text(report).encode(encoding, "replace").decode(encoding))
    rule = "every public check" if args.min_score is None else f"at least {args.min_score:g} points"
    print(f"\n{'PASSED' if passed else 'FAILED'}: {report.score:.2f} / {report.max_score:.2f} (needs {rule})")
    if args.junit:
        write_junit(report, args.junit)
    append_step_summary(report, passed=passed, path=os.environ.get("GITHUB_STEP_SUMMARY"))
    return EXIT_OK if passed else EXIT_FAILED


def _init_ci(args: argparse.Namespace) -> int:
    from grader.kit.workflows import init_ci

    written = init_ci(args.kit, args.out, kit_dir=args.kit_dir, grader_spec=args.grader_spec,
                      min_score=args.min_score, force=args.force, systems=tuple(args.systems))
    print(f"kit copied to {written.kit}")
    for path in written.files:
        print(f"wrote {path}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    from grader.reports.gradebook import export_grades

    path = export_grades(args.results, args.format, out=args.out, name=args.name, canvas_id=args.canvas_id,
                         canvas_key=args.canvas_key, moodle_identifier=args.moodle_identifier)
    print(f"{args.format} gradebook: {path}")
    return EXIT_OK


def add_gradescope_commands(commands: argparse._SubParsersAction,
                            add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    """The Gradescope commands: build an autograder package, and the grading it runs."""
    from grader.reports.gradescope import VISIBILITIES

    visibility_help = "Gradescope visibility of checks that run on hidden cases (default after_published)"
    package = commands.add_parser("gradescope", help="write a Gradescope autograder package (.zip)")
    package.add_argument("assignment", help="name in problems/ (hw1) or path to a spec file")
    package.add_argument("--out", type=Path, required=True, help="zip file to write, e.g. autograder.zip")
    package.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published", help=visibility_help)
    package.add_argument("--data-dir", type=Path, default=None,
                         help="folder of MNIST files to put in the package (default: the test set inside the grader)")

    run = commands.add_parser("autograde", help="grade one Gradescope submission (what run_autograder calls)")
    run.add_argument("assignment", help="name in problems/ or path to a spec file")
    run.add_argument("submission", type=Path, help="the submission folder (/autograder/submission)")
    run.add_argument("--results", type=Path, required=True, help="results.json to write")
    run.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published", help=visibility_help)
    run.add_argument("--hide", type=Path, action="append", default=[],
                     help="another folder to hide from student code (repeatable)")
    add_common(run)


def _gradescope(args: argparse.Namespace) -> int:
    from grader.kit.autograder import build_autograder
    from grader.spec import load_spec

    assignment = load_spec(args.assignment)
    path = build_autograder(assignment, args.out, hidden_visibility=args.hidden_visibility, data_dir=args.data_dir)
    print(f"Gradescope autograder package of {assignment.assignment} written to {path}")
    return EXIT_OK


def _autograde(args: argparse.Namespace) -> int:
    from grader.kit.autograder import autograde

    report = autograde(args.assignment, args.submission, args.results, hidden_visibility=args.hidden_visibility,
                       isolation=args.isolation, data_dir=args.data_dir, hide=tuple(args.hide))
    print(f"{report.assignment} / {report.submission}: {report.score:.2f} / {report.max_score:.2f}; "
          f"results in {args.results}")
    return EXIT_OK


COMMANDS = {"grade": _grade, "check": _check, "lint": _lint, "data": _data, "schema": _schema,
            "bundle": _bundle, "starter": _starter, "new": _new, "ci": _ci, "init-ci": _init_ci, "export": _export,
            "gradescope": _gradescope, "autograde": _autograde, "similarity": _similarity}
