"""Write the three result files: locally while the run streams, then publish them whole.

Rows go to files in the run's private local directory as they are decided; only a run
that finished is copied (streamed) to the destinations. A failed run therefore never
leaves a truncated file where a downstream task expects a complete one; its work is in
the resume state instead.

- output: every input row, in input order, with :data:`RESULT_COLUMNS` appended;
- clean: VALID numbers, first occurrence only (a campaign sends one message per number),
  original columns plus ``e164``;
- flagged: every row whose verdict is not VALID, with ``verdict`` and ``reason`` (a
  suppression list, and the rows a data team should fix).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from types import TracebackType

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.reader import output_header
from airflow_provider_sms.hygiene.verdicts import (
    CLEAN_COLUMNS,
    FLAGGED_COLUMNS,
    RESULT_COLUMNS,
    NumberCheck,
    Verdict,
)

_COPY_BUFFER = 1024 * 1024


class ResultWriters:
    """The output, clean and flagged CSV files of one run.

    :param directory: the run's private local directory.
    :param header: the input's header.
    """

    def __init__(self, directory: Path, header: list[str]) -> None:
        carried = output_header(header)
        self.local_paths = {name: directory / f"{name}.csv" for name in ("output", "clean", "flagged")}
        self._files = {
            name: path.open("w", encoding="utf-8", newline="") for name, path in self.local_paths.items()
        }
        self._output = csv.writer(self._files["output"])
        self._clean = csv.writer(self._files["clean"])
        self._flagged = csv.writer(self._files["flagged"])
        self._output.writerow([*carried, *RESULT_COLUMNS])
        self._clean.writerow([*carried, *CLEAN_COLUMNS])
        self._flagged.writerow([*carried, *FLAGGED_COLUMNS])

    def write(self, values: list[str], check: NumberCheck, *, duplicate: bool) -> None:
        """Write one input row's outcome to the output and, as it applies, the clean or flagged list."""
        self._output.writerow([*values, *check.output_fields(duplicate=duplicate)])
        if check.verdict is Verdict.VALID:
            if not duplicate:
                self._clean.writerow([*values, check.e164])
        else:
            self._flagged.writerow([*values, check.e164, check.verdict.value, check.reason])

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()

    def __enter__(self) -> ResultWriters:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def publish(self, destinations: dict[str, ObjectStoragePath]) -> None:
        """Copy the closed files to ``destinations`` (keys ``output``, ``clean``, ``flagged``).

        Each file is copied beside its destination under a temporary name, then renamed over
        it: a task killed mid-copy leaves the previous file whole (the next night reads it as
        ``previous_results``), never a truncated one.
        """
        for name, destination in destinations.items():
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = destination.parent / f".{destination.name}.partial"
            with self.local_paths[name].open("rb") as source, partial.open("wb") as target:
                shutil.copyfileobj(source, target, _COPY_BUFFER)
            partial.rename(destination)
