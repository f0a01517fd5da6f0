"""The one-command demo: ``python -m airflow_provider_sms.demo`` (``./run.sh demo`` sets it up).

It starts the local HTTPS sandbox of the API, makes a throwaway Airflow home in
``./.airflow-demo/`` (SQLite), runs the example DAG ``number_list_hygiene`` with ``airflow dags
test`` over the bundled sample list of 3,000 numbers, prints what the hygiene found and what
it cost (the sandbox's own ledger of paid requests), and says where the result files are
(``./demo-output/``). Everything it started is stopped and the Airflow home removed, also on
Ctrl-C or failure. It runs the same from a clone or from an installed wheel: the DAG, the
repository's ``example_dags/number_list_hygiene.py``, ships in the package
(``airflow_provider_sms/example_dags/``).

With ``--keep-home`` the Airflow home (its database: the run's summary and the paid requests)
is kept, and reused by the next ``--keep-home`` run, so that the "SMS & Voice" page
(docs/dashboard.md) has something to show: the demo prints how to open it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import IO, Any

import airflow_provider_sms
from airflow_provider_sms.api.constants import API_RATE_LIMIT_PER_SECOND
from airflow_provider_sms.hooks.pacing import HEADROOM

DAG_ID = "number_list_hygiene"
PACKAGE_DIR = Path(airflow_provider_sms.__file__).resolve().parent
SAMPLE_LIST = PACKAGE_DIR / "demo_data" / "sample_numbers.csv"
#: Not resolved: in a clone it is a link to the top-level example_dags/ file, and Airflow's DAGs
#: folder (its parent) should hold this one DAG only.
DAG_FILE = PACKAGE_DIR / "example_dags" / f"{DAG_ID}.py"
# The real API admits 30 requests/s per account. The demo raises the sandbox's limit and the
# connection's rate_limit extra together, so that 5,000 look-ups take seconds, not minutes.
DEMO_RATE_LIMIT = 200
DEMO_LATENCY_MS = "20-60"
SANDBOX_START_TIMEOUT = 60.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_sms.demo", description=__doc__)
    parser.add_argument("--input", type=Path, default=SAMPLE_LIST, help="the CSV list (column 'number')")
    parser.add_argument("--output", type=Path, default=Path("demo-output"), help="result folder")
    parser.add_argument("--keep-output", action="store_true", help="keep earlier results and reuse them")
    parser.add_argument("--rate-limit", type=int, default=DEMO_RATE_LIMIT, help="requests/s (real API: 30)")
    parser.add_argument(
        "--keep-home", action="store_true", help="keep ./.airflow-demo (for the SMS & Voice page), reuse it"
    )
    args = parser.parse_args(argv)
    demo = Demo(args.input.resolve(), args.output.resolve(), args.keep_output, args.rate_limit)
    demo.keep_home = args.keep_home
    return demo.run()


class Demo:
    def __init__(self, source: Path, output: Path, keep_output: bool, rate_limit: int) -> None:
        self.source = source
        self.output = output
        self.keep_output = keep_output
        self.rate_limit = rate_limit
        self.home = Path(".airflow-demo").resolve()
        self.dag_file = DAG_FILE
        self.sandbox: subprocess.Popen[str] | None = None
        self.log_path = self.home / "demo.log"
        self.keep_home = False

    def run(self) -> int:
        started = time.monotonic()
        print("Number-list hygiene demo: an Airflow DAG checking a list of phone numbers against the API")
        if not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True, exist_ok=True)
        if not self.keep_output:
            shutil.rmtree(self.output, ignore_errors=True)
        try:
            info = self._start_sandbox()
            env = self._airflow_env(info)
            print(f"[2/4] Airflow home {_rel(self.home)} (SQLite): creating the database...")
            self._airflow(["db", "migrate"], env, echo=False)
            rows = sum(1 for _ in self.source.open(encoding="utf-8")) - 1
            print(f"[3/4] airflow dags test {DAG_ID}: {rows:,} rows of {_rel(self.source)}")
            conf = {"input_path": str(self.source), "output_folder": str(self.output)}
            self._airflow(["dags", "test", DAG_ID, "-f", str(self.dag_file), "-c", json.dumps(conf)], env)
            summary = json.loads((self.output / "last_summary.json").read_text(encoding="utf-8"))
            ledger = self._ledger(info)
        except DemoError as exc:
            print(f"\nThe demo failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nInterrupted.", file=sys.stderr)
            return 130
        finally:
            self._stop_sandbox()
            if not self.keep_home:
                shutil.rmtree(self.home, ignore_errors=True)
        elapsed = time.monotonic() - started
        kept = "kept" if self.keep_home else "removed"
        print(f"[4/4] Done in {elapsed:.0f} s; sandbox stopped, {_rel(self.home)} {kept}.\n")
        self._print_summary(summary, ledger)
        if self.keep_home:
            print(
                f"\nThe SMS & Voice page: AIRFLOW_HOME={self.home} {Path(sys.executable).parent}/airflow "
                "api-server --port 8080\n  then open http://localhost:8080/plugin/sms-voice "
                f"(user admin, password in {self.home}/simple_auth_manager_passwords.json.generated)"
            )
        return 0

    # -- the sandbox -------------------------------------------------------------------

    def _start_sandbox(self) -> dict[str, Any]:
        command = [
            sys.executable, "-m", "airflow_provider_sms.sandbox", "--port", "0",
            "--rate-limit", str(self.rate_limit), "--latency-ms", DEMO_LATENCY_MS,
            "--state-dir", str(self.home / "sandbox"),
        ]  # fmt: skip
        # Its own session: stopping it stops everything it started.
        self.sandbox = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.sandbox.stdout is not None
        line = _read_line(self.sandbox.stdout, SANDBOX_START_TIMEOUT)
        if not line:
            raise DemoError("the sandbox did not start (see the messages above)")
        info = json.loads(line)
        print(
            f"[1/4] API sandbox at {info['base_url']}, {DEMO_LATENCY_MS} ms per answer. Its rate limit and "
            f"the connection's rate_limit extra are both raised to {self.rate_limit} requests/s for the "
            "demo (the real API allows 30/s)."
        )
        return info

    def _stop_sandbox(self) -> None:
        if self.sandbox is None or self.sandbox.poll() is not None:
            return
        os.killpg(self.sandbox.pid, signal.SIGTERM)
        try:
            self.sandbox.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.sandbox.pid, signal.SIGKILL)
            self.sandbox.wait(5)

    def _ledger(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        tls = ssl.create_default_context(cafile=info["ca_cert"])
        with urllib.request.urlopen(f"{info['base_url']}/_sandbox/ledger", context=tls, timeout=30) as answer:  # noqa: S310 - https only
            data = json.load(answer)
        return list(data)

    # -- Airflow -----------------------------------------------------------------------

    def _airflow_env(self, info: dict[str, Any]) -> dict[str, str]:
        conn = json.loads(info["airflow_conn"])
        conn["extra"]["rate_limit"] = self.rate_limit
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dag_file.parent),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW_CONN_SMS_API_DEFAULT": json.dumps(conn),
            }
        )
        return env

    def _airflow(self, args: list[str], env: dict[str, str], *, echo: bool = True) -> None:
        """Run an ``airflow`` command; its log goes to a file, progress lines to the screen."""
        with self.log_path.open("a", encoding="utf-8") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
                [sys.executable, "-m", "airflow", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            assert process.stdout is not None
            try:
                for line in process.stdout:
                    log.write(line)
                    if echo and "Number hygiene" in line:
                        print("      " + _message(line))
                process.wait()
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(15)
        missing = args[0] == "dags" and not (self.output / "last_summary.json").exists()
        if process.returncode != 0 or missing:
            tail = self.log_path.read_text(encoding="utf-8").splitlines()[-25:]
            raise DemoError(f"`airflow {args[0]} {args[1]}` failed; its last lines:\n" + "\n".join(tail))

    # -- the report --------------------------------------------------------------------

    def _print_summary(self, summary: dict[str, Any], ledger: list[dict[str, Any]]) -> None:
        rows = summary["rows"]
        print(
            f"Checked {rows:,} rows ({summary['unique_numbers']:,} different numbers) "
            f"in {summary['duration_s']:.1f} s:"
        )
        for verdict, count in summary["verdicts"].items():
            if count:
                print(f"  {verdict:<12} {count:>7,}  {100 * count / rows:5.1f}%")
        print(f"  bad share {100 * summary['bad_share']:.1f}% of the numbers judged")
        saved = ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in summary["calls_saved_by"].items() if v)
        print(f"API calls made: {summary['api_calls']:,}; calls saved: {summary['calls_saved']:,} ({saved})")
        if summary["api_calls"]:
            minutes = summary["api_calls"] / (API_RATE_LIMIT_PER_SECOND * HEADROOM) / 60
            print(f"  (at the real API's {API_RATE_LIMIT_PER_SECOND} requests/s: {minutes:.1f} min)")
        billable = Counter(e["product"] for e in ledger if e.get("billable"))
        refused = sum(1 for e in ledger if not e.get("billable"))
        products = ", ".join(f"{p} {n:,}" for p, n in sorted(billable.items())) or "nothing"
        print(
            f"Paid, per the sandbox's ledger: {sum(billable.values()):,} requests ({products}); "
            f"{refused} refused, not billed"
        )
        print(f"\nResults in {_rel(self.output)}/:")
        for key, what in (
            ("output_path", "every row, in input order, with its verdict"),
            ("clean_path", "valid mobiles, once each: ready for a campaign"),
            ("flagged_path", "everything else, with the reason: a suppression list"),
        ):
            print(f"  {Path(summary[key]).name:<22} {what}")
        print(f"  {'last_summary.json':<22} this summary; the next run compares its bad share with it")
        if summary["api_calls"]:
            print("\nRun it again with --keep-output: the second night reuses these answers, without calls.")


class DemoError(Exception):
    """A step of the demo failed; the message says which and shows its log."""


def _read_line(stream: IO[str], timeout: float) -> str:
    """The first line of ``stream``, or "" when none came within ``timeout`` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return stream.readline().strip()


def _message(line: str) -> str:
    """The message of a structlog line (no timestamp, no logger name)."""
    text = line.strip()
    start = text.find("Number hygiene")
    end = text.find(" [", start)
    return text[start:end] if end > start else text[start:]


def _rel(path: Path) -> str:
    try:
        return "./" + str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
