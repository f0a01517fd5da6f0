"""Where the hygiene job reads and writes: paths or URIs, opened through ``ObjectStoragePath``."""

from __future__ import annotations

import os
from typing import Union

from airflow.sdk import ObjectStoragePath

PathLike = Union[str, "os.PathLike[str]", ObjectStoragePath]


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


def _sibling(output: ObjectStoragePath, suffix: str) -> ObjectStoragePath:
    name = output.name
    stem = name[: -len(".csv")] if name.lower().endswith(".csv") else name
    return output.parent / f"{stem}{suffix}"


def clean_path_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.clean.csv``: VALID numbers, once each, ready for a campaign."""
    return _sibling(output, ".clean.csv")


def flagged_path_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.flagged.csv``: every row not VALID, with the reason."""
    return _sibling(output, ".flagged.csv")


def state_dir_for(output: ObjectStoragePath) -> ObjectStoragePath:
    """``.../list.csv`` → ``.../list.csv.state/``: resume state of an unfinished run."""
    return output.parent / f"{output.name}.state"
