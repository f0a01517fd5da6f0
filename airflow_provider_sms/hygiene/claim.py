"""Which run is writing an output: a claim file beside it, so two live runs never publish over each other.

A run claims ``<output>.lock`` (on the output's filesystem) before its first paid request and
gives it up when it ends, published or failed. The claim holds the run's identity (a random
token, the host, the process id, the Airflow task instance) and a heartbeat, refreshed every
:data:`HEARTBEAT_SECONDS` by a background thread. A second run finding a live claim fails at
once, before paying, with the owner's identity in the message; a retry later succeeds.

A claim is *stale*, and the next run takes it over, when

- its heartbeat is older than :data:`EXPIRY_SECONDS` (the owner died or hangs, on any host), or
- its owner ran on this host and that process is gone (a SIGKILLed try's retry on the same
  worker does not wait).

The same Airflow task instance is deliberately *not* allowed to take over a live claim: a
"zombie" try the scheduler gave up on may still be running, and its retry must not publish
over it. Before each file is renamed into place, the run checks that the claim is still its
own. On a local filesystem the claim is created atomically (``O_EXCL``); on an object store,
which has no such operation, it is written and read back, and the check before publishing
catches the rare race of two runs starting in the same instant.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.exceptions import OutputClaimedError
from airflow_provider_sms.hygiene.paths import is_local, local_path

HEARTBEAT_SECONDS = 10.0
EXPIRY_SECONDS = 60.0


class OutputClaim:
    """The claim of one run on one output.

    :param path: the claim file (``<output>.lock``).
    :param token: the run's identity (also in its partial-file and resume-state names).
    :param owner: who the run is, for people reading the error (an Airflow task instance).
    """

    def __init__(self, path: ObjectStoragePath, *, token: str, owner: str) -> None:
        self.path = path
        self.token = token
        self.owner = owner
        self.host = socket.gethostname()
        self.taken_over: str | None = None  # whose stale claim this run took over
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost = False

    def acquire(self) -> None:
        """Claim the output, or raise :class:`OutputClaimedError` naming the live owner."""
        for _ in range(3):
            current = self._read()
            if current is not None and not _stale(current, self.host):
                raise self._claimed_error(current)
            if self._create(current):
                self.taken_over = None if current is None else _describe(current)
                self._thread = threading.Thread(target=self._heartbeat, name="sms-hygiene-claim", daemon=True)
                self._thread.start()
                return
        raise self._claimed_error(self._read() or {})

    def check(self) -> None:
        """Raise :class:`OutputClaimedError` if another run took the claim over (before publishing)."""
        current = self._read()
        if self._lost or current is None or current.get("token") != self.token:
            self._lost = True
            raise self._claimed_error(current or {}, lost=True)

    def release(self) -> None:
        """Stop the heartbeat and remove the claim, if it is still this run's."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        current = self._read()
        if current is not None and current.get("token") == self.token:
            self.path.unlink(missing_ok=True)

    # -- the file ------------------------------------------------------------------------

    def _body(self) -> str:
        return json.dumps(
            {
                "token": self.token,
                "host": self.host,
                "pid": os.getpid(),
                "owner": self.owner,
                "heartbeat": time.time(),
                "heartbeat_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
        )

    def _read(self, path: ObjectStoragePath | None = None) -> dict[str, Any] | None:
        path = path or self.path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict):
            return data
        # Unreadable, or being written this instant: its age is the file's, if it has one.
        if is_local(path):
            try:
                return {"heartbeat": local_path(path).stat().st_mtime}
            except FileNotFoundError:
                return None
        return {}

    def _create(self, stale: dict[str, Any] | None) -> bool:
        if not is_local(self.path):
            self.path.write_text(self._body(), encoding="utf-8")
            confirmed = self._read()
            return confirmed is not None and confirmed.get("token") == self.token
        path = local_path(self.path)
        if stale is not None and not self._move_aside(stale):
            return False
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False  # another run created it first: the caller reads it again
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self._body())
        return True

    def _move_aside(self, stale: dict[str, Any]) -> bool:
        """Remove the stale claim ``stale``, and only it (two runs may take it over at once)."""
        path = local_path(self.path)
        aside = path.with_name(f"{path.name}.stale-{self.token}")
        try:
            path.rename(aside)
        except FileNotFoundError:
            return False
        moved = self._read(self.path.parent / aside.name)
        if moved != stale:  # a fresh claim written since we looked: put it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, path)
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return True

    def _refresh(self) -> None:
        if is_local(self.path):  # replace whole, so a reader never sees half a claim
            path = local_path(self.path)
            fresh = path.with_name(f"{path.name}.{self.token}")
            fresh.write_text(self._body(), encoding="utf-8")
            os.replace(fresh, path)
        else:
            self.path.write_text(self._body(), encoding="utf-8")

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                current = self._read()
                if current is None or current.get("token") != self.token:
                    self._lost = True
                    return
                self._refresh()
            except OSError:
                continue  # a passing storage hiccup: the next beat tries again

    def _claimed_error(self, current: dict[str, Any], *, lost: bool = False) -> OutputClaimedError:
        output = str(self.path)[: -len(".lock")]
        who = _describe(current)
        if lost:
            return OutputClaimedError(
                f"Number hygiene lost its claim on {output} to another run ({who}) and does not publish "
                "over it. The answers paid for are kept in the resume state; run again once it is done"
            )
        remaining = max(0.0, EXPIRY_SECONDS - _age(current))
        return OutputClaimedError(
            f"Output {output} is being written by another run ({who}). Two runs publishing one output "
            "would corrupt it, so this run stops before checking anything. Run again when that run is "
            f"done; if it is dead, its claim expires in {remaining:.0f} s (or delete {self.path})"
        )


def _age(claim: dict[str, Any]) -> float:
    heartbeat = claim.get("heartbeat")
    if not isinstance(heartbeat, (int, float)):
        return float("inf")
    return time.time() - heartbeat


def _stale(claim: dict[str, Any], host: str) -> bool:
    if _age(claim) > EXPIRY_SECONDS:
        return True
    pid = claim.get("pid")
    if claim.get("host") != host or not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # its process is gone: it was killed
    except OSError:
        return False  # alive, another user's
    return False


def _describe(claim: dict[str, Any]) -> str:
    age = _age(claim)
    beat = "no heartbeat" if age == float("inf") else f"last heartbeat {age:.0f} s ago"
    owner, host, pid = claim.get("owner") or "unknown", claim.get("host") or "?", claim.get("pid") or "?"
    return f"{owner} on host {host}, pid {pid}, {beat}"
