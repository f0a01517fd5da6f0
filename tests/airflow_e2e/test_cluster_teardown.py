"""The cluster's teardown, without starting Airflow: nothing a component started survives it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.airflow_e2e.cluster import AirflowCluster

# Like Airflow 3's task supervisor: fork a task runner into a process group of its own
# (supervisor.py, setpgid(0, 0)), so killing the component's group does not reach it.
_COMPONENT = """
import os, sys, time
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    time.sleep(120)
    os._exit(0)
with open(sys.argv[1], "w") as fh:
    fh.write(str(pid))
time.sleep(120)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # an unreaped zombie is dead


def test_stop_kills_processes_that_left_the_components_process_group(tmp_path):
    cluster = AirflowCluster(dags=[])
    pid_file = tmp_path / "runner.pid"
    component = cluster._spawn("scheduler", [sys.executable, "-c", _COMPONENT, str(pid_file)])
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the fake component did not start its task runner"
            time.sleep(0.05)
        runner = int(pid_file.read_text())
        assert _running(runner)
        cluster.stop()
        deadline = time.monotonic() + 10
        while _running(runner) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(runner), "a task runner outlived the cluster's teardown"
    finally:
        cluster.stop()
        if pid_file.exists() and pid_file.read_text():
            subprocess.run(["kill", "-9", pid_file.read_text()], check=False)
        assert component.poll() is not None
