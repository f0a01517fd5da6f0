"""A real Airflow 3 for end-to-end tests: API server, scheduler, DAG processor and triggerer.

Each component is its own process (``airflow <component>``), started with
``start_new_session=True`` so that stopping kills its whole process group, task
supervisors and workers included. Everything listens on loopback, in a throw-away
AIRFLOW_HOME, with small parallelism. Every wait is bounded; on failure the components' log
tails are in the message.

The deployment shape comes from the environment (``./run.sh test-postgres-celery`` sets it):

- by default, a SQLite database in the home and the LocalExecutor;
- ``SMS_E2E_POSTGRES_URL`` (``postgresql://user@127.0.0.1:port/postgres``): a PostgreSQL
  server where each cluster creates a database of its own, and drops it when it stops;
- ``SMS_E2E_CELERY_BROKER_URL`` (``redis://127.0.0.1:port/0``): the CeleryExecutor with this
  broker, and a Celery worker as one more component.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import sqlalchemy as sa

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
T = TypeVar("T")
POSTGRES_URL_ENV = "SMS_E2E_POSTGRES_URL"
CELERY_BROKER_ENV = "SMS_E2E_CELERY_BROKER_URL"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.5) -> T:
    """Call ``check`` until it returns a truthy value; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


class AirflowCluster:
    """Start with :meth:`start`, always :meth:`stop` (or use as a context manager).

    :param dags: files copied into the DAGs folder.
    :param env: extra environment for every component (``AIRFLOW__...``, ``AIRFLOW_CONN_...``).
    :param parallelism: ``[core] parallelism``, and the Celery worker's concurrency.
    """

    def __init__(self, *, dags: list[Path], env: Mapping[str, str] | None = None, parallelism: int = 3):
        self.home = Path(tempfile.mkdtemp(prefix="airflow-e2e-"))
        self.dags_folder = self.home / "dags"
        self.dags_folder.mkdir()
        for dag in dags:
            shutil.copy(dag, self.dags_folder / dag.name)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.webhook_secret = secrets.token_urlsafe(24)
        # Real sign-in (SimpleAuthManager users), so that a request without a token gets nothing.
        self.passwords = {"admin": secrets.token_urlsafe(12), "viewer": secrets.token_urlsafe(12)}
        (self.home / "passwords.json").write_text(json.dumps(self.passwords))
        self.database = Database.for_cluster(self.home)
        self.broker_url = os.environ.get(CELERY_BROKER_ENV) or None
        self.components = COMPONENTS + (("celery-worker",) if self.broker_url else ())
        self.env = self._environment(parallelism, env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._client: httpx.Client | None = None

    def _environment(self, parallelism: int, extra: Mapping[str, str]) -> dict[str, str]:
        # Nothing Airflow-related from the test process (its private AIRFLOW_HOME, connections,
        # task-context leftovers of earlier dag.test() runs) reaches the components.
        env = {k: v for k, v in os.environ.items() if not k.lstrip("_").startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if self.broker_url else "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database.url,
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                # Workers give the execution API 5 s by default, then retry a request the server may
                # have applied (a retried "start task" is refused and fails the task). On a busy
                # 2-core machine a PostgreSQL row lock held by the scheduler made one wait 35 s.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "120",
                "AIRFLOW__SMS_API__WEBHOOK_SECRET": self.webhook_secret,
                "AIRFLOW__SMS_API__WEBHOOK_BASE_URL": self.base_url,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.broker_url:
            env.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{self.database.url}",
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
                }
            )
        env.update(extra)
        return env

    @property
    def shape(self) -> str:
        """``"PostgreSQL + CeleryExecutor"`` and the like, for messages."""
        executor = "CeleryExecutor" if self.broker_url else "LocalExecutor"
        return f"{self.database.kind} + {executor}"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, timeout: float = 150.0) -> AirflowCluster:
        deadline = time.monotonic() + timeout
        self.database.create()
        migrate = self._spawn("db-migrate", [AIRFLOW, "db", "migrate"])
        try:
            code = migrate.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"airflow db migrate did not finish\n{self.log_tails()}") from None
        finally:
            self._kill("db-migrate")
        if code != 0:
            raise RuntimeError(f"airflow db migrate failed ({code})\n{self.log_tails()}")
        # --skip-serve-logs: the log servers would listen on every interface at fixed ports;
        # the API server reads task logs from the shared local folder anyway.
        arguments = {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.port)],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
            "celery-worker": ["celery", "worker", "--skip-serve-logs"],
        }
        for component in self.components:
            self._spawn(component, [AIRFLOW, *arguments[component]])
        self._client = httpx.Client(base_url=self.base_url, timeout=30.0, trust_env=False)
        remaining = max(1.0, deadline - time.monotonic())
        try:
            wait_until("all Airflow components to be healthy", self._healthy, remaining, interval=1.0)
            token = wait_until("a JWT from POST /auth/token", self._token, 30)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tails()}") from None
        self._client.headers["Authorization"] = f"Bearer {token}"
        return self

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.home / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                argv,
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.processes[name] = proc
        return proc

    def _healthy(self) -> bool:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}\n{self.log_tails()}")
        assert self._client is not None
        health = self._client.get("/api/v2/monitor/health").json()
        wanted = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        if not all((health.get(part) or {}).get("status") == "healthy" for part in wanted):
            return False
        # A Celery worker has no health endpoint: it logs "celery@<host> ready." once consuming.
        worker_log = self.home / "celery-worker.log"
        return not self.broker_url or " ready." in worker_log.read_text(errors="replace")

    def _token(self) -> str | None:
        return self.token_for("admin")

    def token_for(self, username: str) -> str | None:
        """A JWT of ``username`` (``admin`` or ``viewer``) from ``POST /auth/token``."""
        assert self._client is not None
        body = {"username": username, "password": self.passwords[username]}
        response = self._client.post("/auth/token", json=body)
        return response.json().get("access_token") if response.status_code in (200, 201) else None

    def _kill(self, name: str, grace: float = 5.0) -> None:
        self._stop_all([name], grace)

    def _stop_all(self, names: list[str], grace: float) -> None:
        """SIGTERM every process group, wait together up to ``grace`` s, then SIGKILL the groups.

        The SIGKILL goes to the group even when its leader exited: task supervisors, workers
        and uvicorn children may outlive it. Airflow's task supervisor puts each task runner in
        a process group of its own, out of reach of the group signals but still in the
        component's session: every process left in those sessions is SIGKILLed last.
        """
        procs = {name: self.processes.pop(name) for name in names if name in self.processes}
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        sessions = {proc.pid for proc in procs.values()}  # start_new_session: sid == pid
        for pid in psutil.pids():
            with contextlib.suppress(OSError):
                if os.getsid(pid) in sessions:
                    os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._stop_all(list(self.processes), grace=5.0)
        if os.environ.get("SMS_E2E_KEEP_HOME") != "1":
            self.database.drop()
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> AirflowCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- diagnostics -------------------------------------------------------------------------
    def log_tails(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.home.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(out)

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        parts = []
        for path in (self.home / "logs").rglob("*.log"):
            text = str(path)
            if f"dag_id={dag_id}" in text and f"task_id={task_id}" in text and run_id in text:
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    # -- REST API (/api/v2, JWT from /auth/token) ------------------------------------------
    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            raise RuntimeError("cluster not started")
        return self._client

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"/api/v2{path}", **kwargs)
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 90.0) -> None:
        def parsed() -> bool:
            errors = self.api("GET", "/importErrors")["import_errors"]
            if errors:
                raise RuntimeError(f"DAG import errors: {errors}")
            known = {d["dag_id"] for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            return set(dag_ids) <= known

        wait_until(f"DAGs {dag_ids} to be parsed", parsed, timeout, interval=1.0)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in ("success", "failed") else None

        try:
            run = wait_until(f"run {dag_id}/{run_id}", finished, timeout, interval=1.0)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log_tails()}") from None
        if run["state"] != "success":
            logs = self.failed_task_logs(dag_id, run_id)
            raise AssertionError(f"{dag_id}/{run_id} ended {run['state']}: {logs}")
        return run

    def failed_task_logs(self, dag_id: str, run_id: str) -> str:
        tis = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        failed = [ti["task_id"] for ti in tis if ti["state"] not in ("success", "skipped")]
        logs = "\n".join(self.task_log(dag_id, run_id, task)[-4000:] for task in failed)
        # A task that failed outside its own code (its supervisor, the executor) says why in the
        # components' logs, the Celery worker's above all.
        return f"tasks not successful: {failed}\n{logs}\n{self.log_tails(lines=60)}"

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return entry["value"]

    def _query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        return self.database.query(sql, **params)

    def queued_asset_requests(self, dag_id: str) -> int:
        """Rows of ``asset_dag_run_queue`` for ``dag_id``: events not yet turned into a run."""
        sql = "SELECT COUNT(*) FROM asset_dag_run_queue WHERE target_dag_id = :dag_id"
        return int(self._query(sql, dag_id=dag_id)[0][0])

    def asset_events(self, uri: str) -> list[dict[str, Any]]:
        """Events of the asset with this URI (trailing slash optional), oldest first: ``id``,
        ``timestamp``, ``extra`` (the stored payload).

        Read from the metadata database, not ``GET /api/v2/assets/events``: in Airflow 3.3.2
        that endpoint answers 500 while any run created by an event is still queued
        (``start_date`` NULL; apache/airflow#71360, fixed after 3.3.2).
        """
        rows = self._query(
            "SELECT e.id, e.timestamp, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri IN (:uri, :slashed) ORDER BY e.id",
            uri=uri.rstrip("/"),
            slashed=uri.rstrip("/") + "/",
        )
        # SQLite hands the JSON column over as text, PostgreSQL (psycopg2) already decoded.
        return [
            {"id": i, "timestamp": ts, "extra": extra if isinstance(extra, dict) else json.loads(extra)}
            for i, ts, extra in rows
        ]


class Database:
    """The metadata database of one cluster: a SQLite file in its home, or a PostgreSQL database
    of its own on the server named by ``SMS_E2E_POSTGRES_URL`` (created and dropped here)."""

    def __init__(self, url: str, admin_url: str | None = None, name: str | None = None) -> None:
        self.url = url
        self._admin_url = admin_url
        self._name = name
        self._engine: sa.engine.Engine | None = None

    @classmethod
    def for_cluster(cls, home: Path) -> Database:
        server = os.environ.get(POSTGRES_URL_ENV)
        if not server:
            return cls(f"sqlite:///{home / 'airflow.db'}")
        admin = sa.engine.make_url(server).set(drivername="postgresql+psycopg2")
        name = f"airflow_e2e_{secrets.token_hex(6)}"
        return cls(admin.set(database=name).render_as_string(hide_password=False), str(admin), name)

    @property
    def kind(self) -> str:
        return "PostgreSQL" if self._admin_url else "SQLite"

    def _admin(self, statement: str) -> None:
        assert self._admin_url is not None
        engine = sa.create_engine(self._admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(statement))
        finally:
            engine.dispose()

    def create(self) -> None:
        if self._admin_url:
            self._admin(f'CREATE DATABASE "{self._name}"')

    def drop(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._admin_url:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._admin(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Read the metadata database directly (a SQLite reader waits up to 10 s for a lock)."""
        if self._engine is None:
            connect_args = {"timeout": 10} if self.url.startswith("sqlite") else {}
            self._engine = sa.create_engine(self.url, connect_args=connect_args, poolclass=sa.pool.NullPool)
        with self._engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql), params)]


@contextlib.contextmanager
def running_cluster(**kwargs: Any) -> Iterator[AirflowCluster]:
    cluster = AirflowCluster(**kwargs)
    with cluster:
        yield cluster
