"""Check the built sdist and wheel beyond what twine and check-wheel-contents look at.

usage: python ci/check_dist.py DIST_FOLDER      (./run.sh test-package runs it)

- the wheel: LICENSE and NOTICE, the package data, the demo's example DAG identical to
  example_dags/'s;
- the metadata: Project-URLs, keywords, valid trove classifiers, one Python classifier per Python
  CI runs, the Airflow and Python lower bounds equal to what the lowest CI environment proves,
  and a README whose links work on a package index (absolute, or anchors);
- the sdist: every file git tracks (tests, example DAGs, docs, benchmarks, CI), run.sh executable.
"""

from __future__ import annotations

import email
import re
import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from pathlib import Path

from trove_classifiers import classifiers as known_classifiers

ROOT = Path(__file__).resolve().parent.parent
URL_LABELS = {"Documentation", "Changelog", "Source Code", "Bug Tracker"}
problems: list[str] = []


def check(condition: object, problem: str) -> None:
    if not condition:
        problems.append(problem)


def ci_environments() -> list[tuple[str, str, str]]:
    """(name, airflow, python) of every environment ci/lib.sh defines."""
    text = (ROOT / "ci" / "lib.sh").read_text(encoding="utf-8")
    return re.findall(r'"(airflow-\S+) (\d+\.\d+\.\d+) (\d+\.\d+) ', text)


def check_wheel(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        for required in (f"{info}/licenses/LICENSE", f"{info}/licenses/NOTICE"):
            check(required in names, f"wheel: {required} missing")
        for required in ("py.typed", "demo_data/sample_numbers.csv", "example_dags/__init__.py"):
            check(
                f"airflow_provider_sms/{required}" in names, f"wheel: airflow_provider_sms/{required} missing"
            )
        shipped = sorted(
            n for n in names if n.startswith("airflow_provider_sms/example_dags/") and "__init__" not in n
        )
        check(shipped, "wheel: no example DAG in airflow_provider_sms/example_dags/ (the demo needs one)")
        for name in shipped:
            original = ROOT / "example_dags" / Path(name).name
            check(
                original.is_file() and archive.read(name) == original.read_bytes(),
                f"wheel: {name} differs from example_dags/{original.name}",
            )
        check(
            not any(n.startswith(("tests/", "example_dags/", "benchmarks/")) for n in names),
            "wheel: test files",
        )
        return email.message_from_bytes(archive.read(f"{info}/METADATA"))


def check_metadata(meta: Message) -> None:
    check(meta["License-Expression"] == "Apache-2.0", f"License-Expression is {meta['License-Expression']!r}")
    check({"LICENSE", "NOTICE"} <= set(meta.get_all("License-File") or []), "License-File: LICENSE, NOTICE")
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    check(set(urls) >= URL_LABELS, f"Project-URL: {sorted(URL_LABELS - set(urls))} missing")
    check(all(u.startswith("https://") for u in urls.values()), f"Project-URL not https: {urls}")
    check(len((meta["Keywords"] or "").split(",")) >= 5, "Keywords: fewer than 5")
    classifiers = meta.get_all("Classifier") or []
    check(
        not set(classifiers) - known_classifiers,
        f"unknown classifiers {set(classifiers) - known_classifiers}",
    )
    environments = ci_environments()
    tested = {python for _, _, python in environments}
    declared = {
        c.rsplit(" ", 1)[1]
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    check(declared == tested, f"Python classifiers {sorted(declared)} but CI runs {sorted(tested)}")
    lowest_python = min(tested, key=lambda v: tuple(map(int, v.split("."))))
    check(meta["Requires-Python"] == f">={lowest_python}", f"Requires-Python {meta['Requires-Python']}")
    lowest_airflow = min((a for _, a, _ in environments), key=lambda v: tuple(map(int, v.split("."))))
    airflow = [r for r in meta.get_all("Requires-Dist") or [] if re.match(r"apache-airflow\s*[<>=]", r)]
    check(
        len(airflow) == 1 and f">={lowest_airflow}" in airflow[0],
        f"Requires-Dist {airflow}: the lower bound should be the lowest Airflow CI runs, {lowest_airflow}",
    )
    readme = meta.get_payload()
    assert isinstance(readme, str)
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        check(
            target.startswith(("https://", "http://", "#")),
            f"README link {target!r} breaks on a package index",
        )


def check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
    try:
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):  # built outside a git checkout
        tracked = [
            "LICENSE",
            "NOTICE",
            "CHANGELOG.md",
            "run.sh",
            ".ci/run",
            "tests/conftest.py",
            "docs/conf.py",
        ]
    missing = sorted(set(tracked) - set(members))
    check(not missing, f"sdist: {len(missing)} tracked files missing, e.g. {missing[:8]}")
    run = members.get("run.sh")
    check(run is not None and run.mode & 0o111, "sdist: run.sh is not executable")


def main(folder: str) -> int:
    dist = Path(folder)
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}", file=sys.stderr)
        return 1
    check_metadata(check_wheel(wheels[0]))
    check_sdist(sdists[0])
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{wheels[0].name} and {sdists[0].name}: contents and metadata as expected")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
