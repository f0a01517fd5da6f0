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

The clean and flagged lists are opened in spreadsheets, so by default they are
*spreadsheet-safe* (OWASP's advice against CSV injection): a cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written with a leading ``'``, which a spreadsheet
shows as text instead of running it as a formula. The ``e164`` column is the provider's own
``+`` and digits, never prefixed. The full output keeps every value as it was: it is the
machine-readable record (and the next night's ``previous_results``).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from airflow.sdk import ObjectStoragePath

from airflow_provider_sms.hygiene.paths import partial_path_for
from airflow_provider_sms.hygiene.reader import output_header
from airflow_provider_sms.hygiene.verdicts import (
    CLEAN_COLUMNS,
    FLAGGED_COLUMNS,
    RESULT_COLUMNS,
    NumberCheck,
    Verdict,
)

if TYPE_CHECKING:
    from airflow_provider_sms.hygiene.claim import OutputClaim

_COPY_BUFFER = 1024 * 1024
_ERROR = RESULT_COLUMNS.index("error")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ResultWriters:
    """The output, clean and flagged CSV files of one run.

    :param directory: the run's private local directory.
    :param header: the input's header.
    :param spreadsheet_safe: prefix formula-like cells of the clean and flagged lists with ``'``.
    """

    def __init__(self, directory: Path, header: list[str], *, spreadsheet_safe: bool = True) -> None:
        carried = output_header(header)
        self.spreadsheet_safe = spreadsheet_safe
        self.local_paths = {name: directory / f"{name}.csv" for name in ("output", "clean", "flagged")}
        self._files = {
            name: path.open("w", encoding="utf-8", newline="") for name, path in self.local_paths.items()
        }
        self._output = csv.writer(self._files["output"])
        self._clean = csv.writer(self._files["clean"])
        self._flagged = csv.writer(self._files["flagged"])
        self._output.writerow([*carried, *RESULT_COLUMNS])
        self._clean.writerow([*self._safe(carried), *CLEAN_COLUMNS])
        self._flagged.writerow([*self._safe(carried), *FLAGGED_COLUMNS])
        self.output_rows = self.clean_rows = self.flagged_rows = self.duplicate_valid_rows = 0

    def write(self, values: list[str], check: NumberCheck, *, duplicate: bool, note: str = "") -> None:
        """Write one input row's outcome to the output and, as it applies, the clean or flagged list.

        ``note`` is about this row only (an extension dropped from its number): it joins the
        ``error`` column and the flagged list's ``reason``, never the stored answer.
        """
        fields = check.output_fields(duplicate=duplicate)
        if note:
            fields[_ERROR] = f"{fields[_ERROR]}; {note}" if fields[_ERROR] else note
        self._output.writerow([*values, *fields])
        self.output_rows += 1
        if check.verdict is Verdict.VALID:
            if duplicate:
                self.duplicate_valid_rows += 1
            else:
                self._clean.writerow([*self._safe(values), check.e164])
                self.clean_rows += 1
        else:
            reason = check.reason
            if note:
                reason = f"{reason}; {note}" if reason else note
            flagged = [*self._safe(values), check.e164, check.verdict.value, *self._safe([reason])]
            self._flagged.writerow(flagged)
            self.flagged_rows += 1

    def _safe(self, cells: list[str]) -> list[str]:
        if not self.spreadsheet_safe:
            return cells
        return ["'" + cell if cell.startswith(FORMULA_STARTS) else cell for cell in cells]

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()

    def __enter__(self) -> ResultWriters:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def publish(
        self, destinations: dict[str, ObjectStoragePath], *, run_token: str, claim: OutputClaim | None = None
    ) -> None:
        """Copy the closed files to ``destinations`` (keys ``output``, ``clean``, ``flagged``).

        Each file is copied beside its destination under a name of this run's own
        (``.<name>.partial-<run_token>``), then renamed over it: a task killed mid-copy leaves
        the previous file whole (the next night reads it as ``previous_results``), never a
        truncated one, and two runs never share a partial file. Just before each rename the
        ``claim`` is checked: a run that lost it to another publishes nothing more.
        """
        for name, destination in destinations.items():
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = partial_path_for(destination, run_token)
            try:
                with self.local_paths[name].open("rb") as source, partial.open("wb") as target:
                    shutil.copyfileobj(source, target, _COPY_BUFFER)
                if claim is not None:
                    claim.check()
                partial.rename(destination)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
