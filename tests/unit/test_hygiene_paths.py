"""Where a run reads and writes: one file however it is spelled, and the write probe (no network)."""

from __future__ import annotations

import os

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.paths import (
    OutputNotWritableError,
    location_key,
    probe_writable,
    storage_path,
)


def test_a_local_file_is_one_file_however_it_is_written(tmp_path, monkeypatch) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "list.csv").write_text("number\n")
    (tmp_path / "alias").symlink_to(tmp_path / "data")
    (tmp_path / "link.csv").symlink_to(tmp_path / "data" / "list.csv")
    monkeypatch.chdir(tmp_path / "data")
    spellings = [
        str(tmp_path / "data" / "list.csv"),
        f"file://{tmp_path}/data/list.csv",
        str(tmp_path / "alias" / "list.csv"),
        str(tmp_path / "link.csv"),
        "./list.csv",
        "../data/./list.csv",
    ]

    keys = {location_key(storage_path(s)) for s in spellings}

    assert keys == {("file", os.path.realpath(tmp_path / "data" / "list.csv"))}
    assert location_key(storage_path(str(tmp_path / "data" / "other.csv"))) not in keys


def test_an_object_is_compared_by_its_normalised_url() -> None:
    key = ("s3", "/bucket/nightly/list.csv")
    same = [
        "s3://aws_default@bucket/a/../nightly/list.csv",  # the connection id names no other object
        "s3://bucket/nightly//list.csv",
        "s3a://bucket/nightly/list.csv",
    ]
    assert {location_key(ObjectStoragePath(u)) for u in same} == {key}
    assert location_key(ObjectStoragePath("s3://other/nightly/list.csv")) != key
    assert location_key(ObjectStoragePath("gs://bucket/nightly/list.csv"))[0] == "gs"


def test_the_probe_leaves_nothing_behind_and_names_what_it_could_not_write(tmp_path) -> None:
    probe_writable(storage_path(str(tmp_path / "new" / "folder")), "output files")
    assert not (tmp_path / "new" / "folder").exists()  # created for the probe, removed again
    (tmp_path / "afile").write_text("")

    with pytest.raises(OutputNotWritableError, match=r"Cannot write the resume state in .*afile/x\.state: "):
        probe_writable(storage_path(str(tmp_path / "afile" / "x.state")), "resume state")
