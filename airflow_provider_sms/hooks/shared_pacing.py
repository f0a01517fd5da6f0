"""One pace per account and host: the limiter's state in a small file every process shares.

Tasks of a LocalExecutor (or several workers of one machine) are separate processes. Each
used to pace itself at the account's full rate and learn about the others from 429s. Here
every limiter of one account on one host keeps its :class:`~airflow_provider_sms.hooks.pacing.PaceState`
in one file, read and written under ``fcntl.flock``: an ``acquire`` books the next free slot
of a single schedule, so N busy processes get equal turns and together start at the pace, never
above it. A 429 (another host on the account) slows that one schedule down for all of them,
and a ``Retry-After`` pauses all of them.

The file lives in a private directory (mode 0700, owned by the user) under the system's
temporary directory, named by a hash of the API host and key id (the key id never appears in
clear); it holds only times and rates. Slots are ``time.monotonic()`` times: that clock is
system-wide on Linux and macOS, which this relies on; a file written before a reboot is
recognised (boot id, or times ahead of the clock) and started afresh. Where ``fcntl`` is
missing (Windows) or the directory cannot be made private, each process paces alone, as
before, and a warning says so once. Processes of different users do not share a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import stat
import struct
import tempfile
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from airflow_provider_sms.hooks.pacing import LocalStore, PaceState, PaceStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_MAGIC = b"SMSP"
_VERSION = 3
# magic, version, boot id, rate, share, next_start, last_update, cut_time, cut_start, floor,
# warm_from, paused_until, generation, number of starts, number of 429s; then the starts and
# the 429 times.
_HEADER = struct.Struct("<4sH16s9dQII")
_MAX_EVENTS = 1_000_000


def _boot_id() -> bytes:
    try:
        return uuid.UUID(Path("/proc/sys/kernel/random/boot_id").read_text().strip()).bytes
    except (OSError, ValueError):
        return bytes(16)


_BOOT_ID = _boot_id()


def encode(state: PaceState) -> bytes:
    """The file's bytes for ``state``."""
    header = _HEADER.pack(
        _MAGIC,
        _VERSION,
        _BOOT_ID,
        state.rate,
        state.share,
        state.next_start,
        state.last_update,
        state.cut_time,
        state.cut_start,
        state.floor,
        state.warm_from,
        state.paused_until,
        state.generation,
        len(state.starts),
        len(state.throttles),
    )
    events = [*state.starts, *state.throttles]
    return header + struct.pack(f"<{len(events)}d", *events)


def decode(data: bytes) -> PaceState | None:
    """The state in a file's bytes; ``None`` for an empty, foreign, damaged or pre-reboot file."""
    if len(data) < _HEADER.size:
        return None
    magic, version, boot, *numbers, generation, n_starts, n_throttles = _HEADER.unpack_from(data)
    if magic != _MAGIC or version != _VERSION or boot != _BOOT_ID or n_starts + n_throttles > _MAX_EVENTS:
        return None
    if len(data) != _HEADER.size + 8 * (n_starts + n_throttles):
        return None
    rate, share, next_start, last_update, cut_time, cut_start, floor, warm_from, paused_until = numbers
    if not all(math.isfinite(x) and x > 0 for x in (rate, share, floor)) or not math.isfinite(last_update):
        return None
    events = struct.unpack_from(f"<{n_starts + n_throttles}d", data, _HEADER.size)
    return PaceState(
        rate,
        share,
        next_start,
        generation,
        last_update,
        cut_time,
        cut_start,
        floor,
        deque(events[:n_starts]),
        deque(events[n_starts:]),
        warm_from,
        paused_until,
    )


class HostStore:
    """A :class:`PaceState` in a file, held under ``flock`` (and a thread lock within a process).

    Survives ``fork``: a child reopens the file (a shared open file would share the lock).

    :param path: the state file (created 0600 if missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._pid = -1
        self._state: PaceState | None = None
        self._lock = threading.Lock()
        self._open()
        _stores.add(self)

    def _open(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self.path, flags, 0o600)
        self._pid = os.getpid()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._open()

    @contextlib.contextmanager
    def locked(self) -> Iterator[PaceState | None]:
        with self._lock:
            assert fcntl is not None
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                self._state = decode(os.pread(self._fd, os.fstat(self._fd).st_size, 0))
                yield self._state
                if self._state is not None:
                    data = encode(self._state)
                    os.pwrite(self._fd, data, 0)
                    os.ftruncate(self._fd, len(data))
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                self._state = None

    def put(self, state: PaceState) -> None:
        self._state = state

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


_stores: weakref.WeakSet[HostStore] = weakref.WeakSet()


def _reopen_after_fork() -> None:
    for store in list(_stores):
        store._after_fork()


os.register_at_fork(after_in_child=_reopen_after_fork)


def state_dir() -> Path | None:
    """The private directory of the state files, created if missing; ``None`` if it is not private."""
    path = Path(tempfile.gettempdir()) / f"airflow-provider-sms-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path


def state_file(directory: Path, key: str) -> Path:
    """The file of one account: a hash of ``key`` (API host and key id), never the key id itself."""
    return directory / f"pace-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


_warned = False


def host_store(key: str) -> PaceStore:
    """The store every process of this host shares for the account ``key``; this process's own
    (:class:`LocalStore`) where that is impossible."""
    global _warned
    directory = state_dir() if fcntl is not None and hasattr(os, "getuid") else None
    if directory is not None:
        try:
            return HostStore(state_file(directory, key))
        except OSError as exc:
            reason = f"its state file cannot be opened ({exc})"
    else:
        reason = "no private directory with file locks is available"
    if not _warned:
        _warned = True
        log.warning(
            "Pacing per process: %s, so processes on this host sharing an account pace separately",
            reason,
        )
    return LocalStore()


__all__ = ["HostStore", "decode", "encode", "host_store", "state_dir", "state_file"]
