"""Where the hygiene job reads and writes: paths or URIs, opened through ``ObjectStoragePath``."""

from __future__ import annotations

import contextlib
import os
import posixpath
import uuid
from pathlib import Path
from typing import Union

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.exceptions import OutputNotWritableError

PathLike = Union[str, "os.PathLike[str]", ObjectStoragePath]

_LOCAL_PROTOCOLS = ("", "file", "local")
# Spellings of one object store (fsspec registers each under several names).
_SAME_STORE = {"s3a": "s3", "gcs": "gs", "az": "abfs", "abfss": "abfs"}


def storage_path(path: PathLike) -> ObjectStoragePath:
    """``path`` as an :class:`ObjectStoragePath`: a URI (``s3://...``) as is, a local path made absolute."""
    if isinstance(path, ObjectStoragePath):
        return path
    text = os.fspath(path).strip()
    if not text:
        raise ValueError("a path is empty")
    if "://" not in text:
        text = os.path.abspath(os.path.expanduser(text))
    return ObjectStoragePath(text)


def is_local(path: ObjectStoragePath) -> bool:
    """Whether ``path`` is on this machine's filesystem (a plain path or ``file://``)."""
    return path.protocol in _LOCAL_PROTOCOLS


def local_path(path: ObjectStoragePath) -> Path:
    """A local ``ObjectStoragePath`` as a :class:`pathlib.Path` (appends, ``fsync``, ``O_EXCL``)."""
    return Path(path.path)


def location_key(path: ObjectStoragePath) -> tuple[str, str]:
    """What ``path`` names, whatever way it is written.

    A local file: its real path (``file://`` or not, relative parts, symbolic links of the
    file and its folders resolved). An object: the store and the normalised key, without the
    connection id (``s3://aws_default@bucket/a/../k`` and ``s3://bucket/k`` are one object).
    """
    if is_local(path):
        return "file", os.path.realpath(path.path)
    protocol = _SAME_STORE.get(path.protocol, path.protocol)
    return protocol, posixpath.normpath("/" + path.path.lstrip("/"))


def clean_path_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.clean.csv``: VALID numbers, once each, ready for a campaign."""
    return _sibling(output, ".clean.csv")


def flagged_path_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.flagged.csv``: every row not VALID, with the reason."""
    return _sibling(output, ".flagged.csv")


def state_dir_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.csv.state/``: resume state of an unfinished run."""
    return output.parent / f"{output.name}.state"


def claim_path_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.csv.lock``: which run is writing the output (see ``claim.py``)."""
    return output.parent / f"{output.name}.lock"


def partial_path_for(destination: ObjectStoragePath, run_token: str) -> ObjectStoragePath:
    """The name a file is copied under before it is renamed over ``destination``: one per run."""
    return destination.parent / f".{destination.name}.partial-{run_token}"


def probe_writable(directory: ObjectStoragePath, what: str) -> None:
    """Create ``directory`` if needed, write and delete a small file in it, remove what it created.

    Any refusal (``PermissionError``, an object store's access denied...) is raised as
    :class:`OutputNotWritableError`, naming ``what`` the directory is for: run it before any
    paid request, so that an output that cannot be written costs nothing.
    """
    probe = directory / f".sms-hygiene-probe-{uuid.uuid4().hex[:12]}"
    try:
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"probe")
        probe.unlink(missing_ok=True)
        if created:  # leave no empty folder behind a run that fails before writing anything
            with contextlib.suppress(OSError):
                directory.rmdir()
    except Exception as exc:  # any filesystem's refusal: PermissionError, an S3 AccessDenied...
        raise OutputNotWritableError(
            f"Cannot write the {what} in {directory}: {type(exc).__name__}: {exc}. Nothing was checked "
            "or paid for; give the task write access there (or choose another output_path) and run again"
        ) from exc


def _sibling(output: ObjectStoragePath, suffix: str) -> ObjectStoragePath:
    name = output.name
    stem = name[: -len(".csv")] if name.lower().endswith(".csv") else name
    return output.parent / f"{stem}{suffix}"
