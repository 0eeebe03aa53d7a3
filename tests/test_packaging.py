"""Packaging: the grader installs beside a student's own torch, and grades with any NumPy it admits.

- The installed package's metadata declares ranges for torch (2.x from 2.3) and numpy (NumPy 2
  included), not the course machines' exact pin, so ``pip install dl-grader`` on Colab or in a conda
  environment keeps the torch that is there.
- An offline pip dry run into an environment that already holds another torch 2.x resolves without
  touching it; the same run with the former ``torch==2.13.0`` pin would replace it (the control).
- The example submissions are graded, sandbox included, with the oldest and the newest NumPy the
  range admits, installed from the package registry into a throwaway environment that sees this
  environment's other packages (torch included) behind it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from conftest import ROOT

OLD_PIN = "torch==2.13.0"
"""The requirement pyproject.toml had before: any other torch in the environment was replaced."""
OTHER_TORCH = "2.4.0"
"""A torch 2.x a student may already have (not the course machines' 2.13.0)."""
TEST_SITE = Path(sysconfig.get_paths()["purelib"])
"""This environment's site-packages: the grader's dependencies, torch included."""

# Prints which numpy the grader's own process imported, then runs the grader's command line as
# `python -m grader` would.
LAUNCHER = textwrap.dedent("""\
    import runpy, sys
    import numpy
    print(f"grader-numpy {numpy.__version__} {numpy.__file__}", file=sys.stderr, flush=True)
    sys.argv = ["grader", *sys.argv[1:]]
    runpy.run_module("grader", run_name="__main__", alter_sys=True)
""")

# Appended to a copy of ada's hw2.py: its `odds` then fails with what the sandboxed worker runs on,
# after a round trip of a tensor through NumPy (the conversion every worker does).
PROBE = textwrap.dedent("""\


    def odds(p):
        doubled = torch.from_numpy(np.asarray(p, dtype=np.float64)) * 2
        raise RuntimeError(f"probe: numpy {np.__version__} from {np.__file__}, "
                           f"torch {torch.__version__}, round trip {doubled.numpy().dtype}")
""")


def base_requirements() -> dict[str, Requirement]:
    """The installed grader's own requirements (no extras), by project name."""
    parsed = [Requirement(line) for line in requires("dl-grader") or []]
    return {req.name: req for req in parsed if req.marker is None}


def keeps_other_torch(specifier: SpecifierSet) -> bool:
    """Whether a torch requirement leaves any torch 2.x from 2.3 on where it is."""
    return all(specifier.contains(version) for version in ("2.3.0", OTHER_TORCH, "2.13.0", "2.14.1"))


def test_metadata_declares_ranges_not_pins() -> None:
    requirements = base_requirements()
    torch, numpy = requirements["torch"].specifier, requirements["numpy"].specifier
    assert keeps_other_torch(torch)
    assert not any(torch.contains(version) for version in ("1.13.1", "2.2.2", "3.0.0"))
    # NumPy 2 included; 1.23.2-1.23.4 (the first Python 3.11 wheels) refused: they lack the .npy
    # header size limit grader/wire.py passes.
    assert all(numpy.contains(version) for version in ("1.23.5", "1.26.4", "2.0.0", "2.4.6"))
    assert not any(numpy.contains(version) for version in ("1.23.4", "3.0.0"))
    # The control: the former pin fails the same question.
    assert not keeps_other_torch(Requirement(OLD_PIN).specifier)


# --- a resolver dry run beside another torch ------------------------------------------------------


def throwaway_environment(root: Path) -> tuple[Path, Path]:
    """A venv without pip of its own: its interpreter and its (empty) site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    return python, Path(site)


def fake_distribution(site: Path, name: str, version: str) -> None:
    """Installed metadata of a distribution, all pip looks at to decide what is there."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


def fake_wheel(folder: Path, name: str, version: str) -> Path:
    """A metadata-only wheel: an offline stand-in for the registry's release, never installed."""
    info = f"{name}-{version}.dist-info"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def project_copy(folder: Path, torch_requirement: str | None = None) -> Path:
    """The files pip needs to read the grader's metadata, optionally with another torch requirement."""
    folder.mkdir()
    shutil.copy(ROOT / "README.md", folder)
    (folder / "grader").mkdir()
    (folder / "grader" / "__init__.py").write_text("")
    pyproject = (ROOT / "pyproject.toml").read_text()
    if torch_requirement is not None:
        pyproject, count = re.subn(r'"torch[^"]*"', f'"{torch_requirement}"', pyproject)
        assert count == 1, "pyproject.toml should declare torch once"
    (folder / "pyproject.toml").write_text(pyproject)
    return folder


def dry_run(python: Path, project: Path, wheels: Path, report: Path) -> subprocess.CompletedProcess[str]:
    """What `pip install PROJECT` would do in that environment, resolved offline: no index, no
    configuration (so no find-links of this machine's), only the wheels in `wheels`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1")
    return subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--no-index", "--find-links", str(wheels),
         "--no-build-isolation", "--quiet", "--report", str(report), str(project)],
        capture_output=True, text=True, env=env, timeout=120,
    )


def to_install(report: Path) -> dict[str, str]:
    """Name and version of every distribution a pip report says it would install."""
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}


def test_install_keeps_another_torch(tmp_path: Path) -> None:
    python, site = throwaway_environment(tmp_path / "env")
    fake_distribution(site, "torch", OTHER_TORCH)
    # Everything else this environment has (pip and setuptools for the dry run, the grader's other
    # dependencies) is seen through links, without this environment's torch and grader metadata.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    for entry in TEST_SITE.iterdir():
        if not re.match(r"(torch|dl_grader)-.*\.(dist|egg)-info$|__editable__", entry.name):
            (shadow / entry.name).symlink_to(entry)
    (site / "shadow.pth").write_text(f"{shadow}\n")
    # A newer torch on offer, as the registry would have: a pin would take it.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    fake_wheel(wheels, "torch", "2.13.0")

    ranged = dry_run(python, project_copy(tmp_path / "ranged"), wheels, tmp_path / "ranged.json")
    assert ranged.returncode == 0, ranged.stderr
    assert to_install(tmp_path / "ranged.json") == {"dl-grader": "0.1.0"}

    # The control: the former pin, in the same environment, would replace the student's torch.
    pinned = dry_run(python, project_copy(tmp_path / "pinned", OLD_PIN), wheels, tmp_path / "pinned.json")
    assert pinned.returncode == 0, pinned.stderr
    assert to_install(tmp_path / "pinned.json").get("torch") == "2.13.0"


# --- grading with the oldest and the newest NumPy ---------------------------------------------------


def numpy_requirement(which: str) -> str:
    """The requirement that installs the oldest or the newest NumPy the grader's range admits."""
    specifier = base_requirements()["numpy"].specifier
    if which == "newest":
        return f"numpy{specifier}"
    (oldest,) = [spec.version for spec in specifier if spec.operator == ">="]
    return f"numpy=={oldest}"


def lost_problems(results: dict) -> set[str]:
    return {test["name"] for test in results["tests"] if test["score"] < test["max_score"]}


@pytest.mark.parametrize("which", ["oldest", "newest"])
def test_grades_with_numpy(which: str, tmp_path: Path, expected_examples: dict) -> None:
    python, site = throwaway_environment(tmp_path / "env")
    # NumPy alone from the registry (no dependencies, so never a torch), into the throwaway
    # environment's own site-packages, which comes first on its sys.path.
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--only-binary=:all:", "--no-compile",
         "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), numpy_requirement(which)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, f"could not install {numpy_requirement(which)}:\n{install.stderr}"
    (installed,) = [path.name.removesuffix(".dist-info").split("-")[1] for path in site.glob("numpy-*.dist-info")]
    # This environment's packages (torch, pydantic, the grader itself...) behind it.
    (site / "zz_test_environment.pth").write_text(f"import site; site.addsitedir({str(TEST_SITE)!r})\n")

    def start(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([str(python), "-c", LAUNCHER, *args], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def finish(run: subprocess.Popen[str]) -> tuple[int, str]:
        _, stderr = run.communicate(timeout=300)
        # The grader's own process ran on that NumPy.
        assert f"grader-numpy {installed} {site}" in stderr, stderr
        return run.returncode, stderr

    if which == "newest":
        assert int(installed.split(".")[0]) >= 2

    # Two runs side by side (each is mostly one busy process): a class of three graded in full
    # (hidden cases, tensors included) with ada, ben and a probe; and a student's check on the public
    # cases of another assignment.
    submissions = tmp_path / "hw2"
    for sid in ("ada", "ben"):
        shutil.copytree(ROOT / "submissions" / "hw2" / sid, submissions / sid)
    shutil.copytree(ROOT / "submissions" / "hw2" / "ada", submissions / "probe")
    with (submissions / "probe" / "hw2.py").open("a") as module:
        module.write(PROBE)
    out, report = tmp_path / "reports", tmp_path / "hw3-ben.json"
    graded = start("grade", "hw2", str(submissions), "--out", str(out), "--workers", "2", "--no-html")
    checked = start("check", "problems/hw3.yaml", "submissions/hw3/ben", "--json", str(report))
    try:
        code, stderr = finish(graded)
        assert code == 0, stderr
        # hw2's spec pins NumPy 2.4.6: another NumPy grades all the same, and says so.
        warned = "NumPy 2.4.6 (the spec's environment)" in stderr
        assert warned == (installed != "2.4.6"), stderr
        results = {sid: json.loads((out / sid / "results.json").read_text()) for sid in ("ada", "ben", "probe")}
        assert f"Graded with NumPy {installed} and torch" in results["ada"]["output"]
        assert lost_problems(results["ada"]) == set()
        assert lost_problems(results["ben"]) == set(expected_examples["hw2"]["ben"])
        assert lost_problems(results["probe"]) == {"odds"}
        # The sandboxed worker ran on that NumPy too, and torch converted to and from it.
        (probe,) = [test["output"] for test in results["probe"]["tests"] if test["name"] == "odds"]
        assert f"probe: numpy {installed} from {site}" in probe and "round trip float64" in probe, probe

        code, stderr = finish(checked)
        assert code == 1, stderr  # 1: not every public check passes
        assert lost_problems(json.loads(report.read_text())) == set(expected_examples["hw3"]["ben"])
    finally:
        for run in (graded, checked):  # a failed assertion leaves no grader running
            if run.poll() is None:
                run.kill()
                run.communicate()
