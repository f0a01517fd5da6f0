"""Where the send journal keeps its entries, and the one write that makes a claim exclusive.

Layout, under the journal root (an :class:`~airflow.sdk.ObjectStoragePath`)::

    <root>/<dag_id>/<run_id>/<task_id>/<key>.<attempt>.json     one file per send attempt
    <root>/<dag_id>/<run_id>/<task_id>/<map_index>.report.json  a list send's full report

Every mapped instance of a task shares the task's folder: the key (see
:meth:`~airflow_provider_sms.sending.journal.SendJournal.key`) has no map index, so a person
is reached once per task and DAG run however the list is split or ordered.

An attempt file is **created exclusively** (the claim) with the status ``in_flight``, then
replaced by its owner with the outcome. Of two writers creating the same attempt, exactly one
succeeds, with the strongest primitive the storage offers:

* local (and mounted) filesystems: a hard link of a complete temporary file (``link(2)``
  fails if the name exists), so the file appears whole and only once;
* object stores: fsspec's ``pipe_file(..., mode="create")``, a conditional write where the
  store has one: ``If-None-Match: *`` on S3 (s3fs; AWS and the S3-compatible stores that
  honour the header), ``ifGenerationMatch=0`` on GCS (gcsfs), ``overwrite=False`` on Azure Blob
  (adlfs). Other fsspec filesystems fall back to fsspec's check-then-write, which leaves a
  window of one round trip between the check and the write.

Entries written by the first layout (``<task_id>/<map_index>/<key>.json``, where the key
included the map index) are still read, as the attempt before the first of the new layout,
by the task instance of that map index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.exceptions import JournalClaimedError, JournalError
from airflow_provider_sms.sending.entries import JournalEntry, TaskScope

LOCAL_PROTOCOLS = frozenset({"", "file", "local"})
#: Object stores whose fsspec filesystem turns ``mode="create"`` into a conditional write.
CONDITIONAL_WRITE_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl"})

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")
_ENTRY = re.compile(r"^([0-9a-f]{64})\.([0-9]+)\.json$")
_LEGACY_ENTRY = re.compile(r"^([0-9a-f]{64})\.json$")
#: Characters of a streamed report gathered before one write (each write of an ObjectStoragePath
#: file costs a lineage call; the file object buffers further). Held in memory at most once.
_REPORT_WRITE = 1 << 16


def segment(value: object) -> str:
    """A folder name readable by a person and valid on any object store.

    The entry key (a hash of the exact values) keeps entries apart even if two names sanitise alike.
    """
    return _UNSAFE.sub("_", str(value)) or "_"


def canonical_key(material: list[Any]) -> str:
    """SHA-256 of ``material`` as canonical JSON."""
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JournalStore:
    """The files of one task's journal folder: list, read, claim, replace.

    :param root: the journal's root folder.
    :param scope: the task instance (its map index names its report and its old-layout folder).
    """

    def __init__(self, root: ObjectStoragePath, scope: TaskScope) -> None:
        self.root = root
        self.scope = scope
        self.folder = root / segment(scope.dag_id) / segment(scope.run_id) / segment(scope.task_id)
        self.legacy_folder = self.folder / str(scope.map_index)
        self.protocol = root.protocol or ""
        self.local = self.protocol in LOCAL_PROTOCOLS

    @property
    def atomic_claims(self) -> bool:
        """Whether a claim is one atomic create on this storage (see the module's docstring)."""
        return self.local or self.protocol in CONDITIONAL_WRITE_PROTOCOLS

    def path(self, key: str, attempt: int) -> ObjectStoragePath:
        return self.folder / f"{key}.{attempt}.json"

    # --- reading ---------------------------------------------------------------------------

    def listing(self) -> dict[str, int]:
        """``{key: latest attempt}`` of every entry in the folder (one listing)."""
        latest: dict[str, int] = {}
        for name in self._names(self.folder):
            match = _ENTRY.match(name)
            if match:
                key, attempt = match.group(1), int(match.group(2))
                if attempt > latest.get(key, 0):
                    latest[key] = attempt
        return latest

    def attempts(self, key: str) -> list[int]:
        """The attempts of ``key`` found in the folder, in order (a prefix listing on object stores)."""
        try:
            found = [self._attempt_of(_name(p)) for p in self.folder.glob(f"{key}.*.json")]
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise JournalError(f"Cannot list the send journal at {self.folder}: {exc}") from exc
        return sorted(a for a in found if a is not None)

    def read(self, key: str, attempt: int) -> JournalEntry | None:
        return _read_entry(self.path(key, attempt), key, attempt)

    def latest(self, key: str, start: int | None = None) -> JournalEntry | None:
        """The latest attempt of ``key``.

        :param start: an attempt known to exist (a listing's, or one just claimed by another
            writer): read it and any later one, without listing. ``None``: list the key's attempts.
        """
        if start is None:
            found = self.attempts(key)
            if not found:
                return None
            start = found[-1]
        entry = self.read(key, start)
        while entry is not None:
            newer = self.read(key, entry.attempt + 1)
            if newer is None:
                return entry
            entry = newer
        # Deleted since it was seen (by hand, to send again on purpose): list what is left.
        found = self.attempts(key)
        return self.read(key, found[-1]) if found else None

    # --- writing ---------------------------------------------------------------------------

    def claim(self, entry: JournalEntry) -> None:
        """Create ``entry``'s attempt file, only if it does not exist yet.

        :raises JournalClaimedError: another writer created it first.
        :raises JournalError: it could not be written (nothing was claimed).
        """
        target = self.path(entry.key, entry.attempt)
        try:
            if self.local:
                temporary = self._temporary(entry)
                try:
                    os.link(temporary.path, target.path)  # fails if the entry exists
                finally:
                    temporary.unlink()
            else:
                target.fs.pipe_file(target.path, entry.to_json().encode("utf-8"), mode="create")
        except FileExistsError:
            raise JournalClaimedError(
                f"The send journal entry {target} was written by another copy"
            ) from None
        except Exception as exc:
            raise JournalError(f"Cannot write the send journal entry {target}: {exc}") from exc

    def replace(self, entry: JournalEntry) -> None:
        """Overwrite ``entry``'s attempt file (only its claimant does), whole or not at all."""
        target = self.path(entry.key, entry.attempt)
        try:
            if self.local:
                self._temporary(entry).rename(target)  # atomic on one local filesystem
            else:
                target.write_text(entry.to_json())  # one PUT: atomic on object stores
        except Exception as exc:
            raise JournalError(f"Cannot write the send journal entry {target}: {exc}") from exc

    def _temporary(self, entry: JournalEntry) -> ObjectStoragePath:
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f".tmp-{entry.key}-{uuid.uuid4().hex}"
        temporary.write_text(entry.to_json())
        return temporary

    # --- the report beside the entries -----------------------------------------------------

    @property
    def report_path(self) -> ObjectStoragePath:
        return self.folder / f"{self.scope.map_index}.report.json"

    def write_report(self, report: Mapping[str, Any] | Iterable[str]) -> ObjectStoragePath:
        """Write the full report of this task instance (the latest try's replaces an earlier one).

        :param report: the report, or its JSON text in pieces (written as they come).
        """
        target = self.report_path
        chunks = [json.dumps(report, sort_keys=True)] if isinstance(report, Mapping) else report
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.parent / f".{target.name}.{uuid.uuid4().hex}"
            with partial.open("w", encoding="utf-8") as fh:
                buffered: list[str] = []
                size = 0
                for chunk in chunks:
                    buffered.append(chunk)
                    size += len(chunk)
                    if size >= _REPORT_WRITE:
                        fh.write("".join(buffered))
                        buffered, size = [], 0
                fh.write("".join(buffered))
            partial.rename(target)
        except Exception as exc:
            raise JournalError(f"Cannot write the send report {target}: {exc}") from exc
        return target

    # --- the first layout ------------------------------------------------------------------

    def legacy_keys(self) -> frozenset[str]:
        """Keys of this map index's entries in the first layout (usually none: one ``exists``)."""
        return frozenset(m.group(1) for m in map(_LEGACY_ENTRY.match, self._names(self.legacy_folder)) if m)

    def legacy_key(self, number: str, kind: str, content: Mapping[str, Any]) -> str:
        """The key the first layout gave this contact (it included the map index)."""
        s = self.scope
        return canonical_key([s.dag_id, s.run_id, s.task_id, s.map_index, number, kind, dict(content)])

    def read_legacy(self, key: str) -> JournalEntry | None:
        entry = _read_entry(self.legacy_folder / f"{key}.json", key, attempt=0)
        # Its owner is this map index; any later attempt goes to the new layout as attempt 1.
        return None if entry is None else dataclasses.replace(entry, map_index=self.scope.map_index)

    def _names(self, folder: ObjectStoragePath) -> list[str]:
        try:
            if not folder.exists():
                return []
            return [_name(p) for p in folder.iterdir()]
        except FileNotFoundError:
            return []
        except Exception as exc:
            raise JournalError(f"Cannot list the send journal at {folder}: {exc}") from exc

    @staticmethod
    def _attempt_of(name: str) -> int | None:
        match = _ENTRY.match(name)
        return int(match.group(2)) if match else None


def _read_entry(path: ObjectStoragePath, key: str, attempt: int) -> JournalEntry | None:
    """The entry in ``path``; ``None`` when there is no such file."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except Exception as exc:
        raise JournalError(f"Cannot read the send journal entry {path}: {exc}") from exc
    return JournalEntry.from_json(key, text, attempt)


def _name(path: ObjectStoragePath) -> str:
    # The last segment of the path as the filesystem spells it (UPath's ``name`` of a filesystem
    # it has no class for can lose characters).
    return str(path.path).rstrip("/").rsplit("/", 1)[-1]


__all__ = ["CONDITIONAL_WRITE_PROTOCOLS", "LOCAL_PROTOCOLS", "JournalStore", "canonical_key", "segment"]
