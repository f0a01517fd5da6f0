"""The one-command demo, end to end (sandbox subprocess, throwaway Airflow, `airflow dags test`).

It runs the installed package, whichever it is: CI runs this test against the wheel installed
in fresh virtualenvs (./run.sh test-matrix), where the package holds no clone around it.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import airflow_provider_sms


def test_demo_runs_the_dag_and_cleans_up(tmp_path) -> None:
    sample = Path(airflow_provider_sms.__file__).parent / "demo_data" / "sample_numbers.csv"
    with sample.open(encoding="utf-8") as handle:  # a slice of the bundled list keeps it quick
        head = [next(handle) for _ in range(41)]
    (tmp_path / "list.csv").write_text("".join(head), encoding="utf-8")

    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_sms.demo", "--input", "list.csv", "--output", "results"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "results" / "last_summary.json").read_text())
    assert summary["rows"] == 40
    assert f"Checked 40 rows ({summary['unique_numbers']} different numbers)" in done.stdout
    ledger = re.search(r"Paid, per the sandbox's ledger: ([\d,]+) requests .*; (\d+) refused", done.stdout)
    assert ledger, done.stdout
    billed, refused = int(ledger[1].replace(",", "")), int(ledger[2])
    assert billed + refused == summary["api_calls"] > 0  # the engine's count is the sandbox's
    with (tmp_path / "results" / "numbers.csv").open(encoding="utf-8") as handle:
        assert [r["customer_id"] for r in csv.DictReader(handle)] == [f"C{i:06d}" for i in range(1, 41)]
    assert "raised to 200 requests/s for the demo" in done.stdout
    assert not (tmp_path / ".airflow-demo").exists()  # the throwaway Airflow home is gone
