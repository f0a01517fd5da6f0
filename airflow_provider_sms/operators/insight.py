"""Number-insight operators: HLR look-up and fraud check, for one number or a few.

Look-ups reach nobody, so they are not journalled: a retry repeats them (and pays for
them again). For whole lists use the batch operator of :mod:`airflow_provider_sms.operators.hygiene`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_sms.api.numbers import mask_number, normalize_number
from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.operators.sms import numbers_from_value

if TYPE_CHECKING:
    from airflow.sdk import Context


class _LookupOperator(BaseOperator):
    """One look-up per number: ``number=`` returns one result dict, ``numbers=`` a dict keyed by number."""

    method: ClassVar[str]
    what: ClassVar[str]
    template_fields: Sequence[str] = ("number", "numbers", "sms_api_conn_id")
    ui_color = "#e0eef8"

    def __init__(
        self,
        *,
        number: str | None = None,
        numbers: str | Iterable[str] | None = None,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (number is None) == (numbers is None):
            raise ValueError(f"{type(self).__name__} takes either number= or numbers=, not both or neither")
        self.number = number
        self.numbers = numbers
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        reveal = self.hook.settings.log_full_numbers
        lookup = getattr(self.hook, self.method)
        if self.numbers is None:
            result = lookup(self.number).to_dict()
            self._log(self.number, result, reveal)
            return result
        results: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []  # not a dict: two numbers can mask alike
        tried: set[str] = set()  # a duplicate is looked up (and paid, and reported) once
        for raw in numbers_from_value(self.numbers):
            try:
                number = normalize_number(raw)
                if number not in tried:
                    tried.add(number)
                    results[number] = lookup(number).to_dict()
                    self._log(number, results[number], reveal)
            except SmsApiError as exc:  # messages carry masked numbers
                errors.append((mask_number(str(raw), reveal=reveal), str(exc)))
        if errors:
            details = "; ".join(f"{number}: {reason}" for number, reason in errors)
            raise AirflowException(f"{self.what} failed for {len(errors)} number(s): {details}")
        return results

    def _log(self, number: object, result: dict[str, Any], reveal: bool) -> None:
        self.log.info(
            "%s of %s: %s", self.what, mask_number(str(number), reveal=reveal), result.get("status")
        )


class HlrLookupOperator(_LookupOperator):
    """HLR look-up: network (MCC/MNC), country and reachability of mobile numbers.

    Returns (XCom) the ``HlrResult`` fields (``status``, ``country``, ``network``, ``mccmnc``,
    ``created_at``...) for ``number=``, or ``{e164: {...}}`` for ``numbers=``.

    :param number: one number. Templated.
    :param numbers: a few numbers (a list, an XCom, or a comma-separated string). Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    method = "hlr_lookup"
    what = "HLR look-up"


class FraudCheckOperator(_LookupOperator):
    """Fraud check: whether numbers are on fraud/suspicious lists and have a mobile prefix.

    Returns (XCom) ``{"status": "PASSED" | "NOT_MOBILE_PREFIX" | "SUSPICIOUS" | "FRAUDULENT",
    "mobile_prefix": bool}`` for ``number=``, or ``{e164: {...}}`` for ``numbers=``.

    :param number: one number. Templated.
    :param numbers: a few numbers (a list, an XCom, or a comma-separated string). Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    method = "fraud_check"
    what = "Fraud check"


__all__ = ["FraudCheckOperator", "HlrLookupOperator"]
