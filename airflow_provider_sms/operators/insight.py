"""Number-insight operators: HLR look-up and fraud check, for one number or a few.

Look-ups reach nobody, so they are not journalled: a retry repeats them (and pays for
them again). For whole lists use the batch operator of :mod:`airflow_provider_sms.operators.hygiene`.

Numbers show masked in their rendered fields (unless the connection's ``log_full_numbers``) and
in their XCom (unless ``xcom_full_numbers``): see :mod:`airflow_provider_sms.privacy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.api.results import FraudCheckResult, HlrResult
from airflow_provider_sms.batch.breaker import CircuitBreaker
from airflow_provider_sms.batch.inflight import InFlightController, run_adaptive
from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.failures import fails_fast
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.privacy import PrivateRenderingMixin
from airflow_provider_sms.sending.recipients import each_recipient, numbers_from_value
from airflow_provider_sms.summaries import USAGE_SUMMARIES, add_summary_outlet, publish_summary, usage_summary

if TYPE_CHECKING:
    from airflow.sdk import Context


class _LookupOperator(PrivateRenderingMixin, BaseOperator):
    """One look-up per number: ``number=`` returns one result dict, ``numbers=`` a dict keyed by number."""

    what: ClassVar[str]
    paid_kind: ClassVar[str]
    template_fields: Sequence[str] = ("number", "numbers", "sms_api_conn_id")
    ui_color = "#e0eef8"
    number_fields = ("number", "numbers")

    def __init__(
        self,
        *,
        number: str | None = None,
        numbers: str | Iterable[str] | None = None,
        xcom_full_numbers: bool = False,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (number is None) == (numbers is None):
            raise ValueError(f"{type(self).__name__} takes either number= or numbers=, not both or neither")
        self.number = number
        self.numbers = numbers
        self.xcom_full_numbers = xcom_full_numbers
        self.sms_api_conn_id = sms_api_conn_id
        add_summary_outlet(self, USAGE_SUMMARIES)

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    @fails_fast(lambda op: op.what)
    def execute(self, context: Context) -> dict[str, Any]:
        reveal = self.hook.settings.log_full_numbers
        if self.rendered("numbers") is None:
            number = self.rendered("number")
            result = self._lookup(str(number))
            self._log(number, result, reveal)
            publish_summary(context, USAGE_SUMMARIES, usage_summary(self.paid_kind))
            return self._shown(result)
        # A duplicate is looked up (and paid, and reported) once.
        given = list(each_recipient(numbers_from_value(self.rendered("numbers"))))
        answers = self._lookup_all([r.e164 for r in given if r.e164 is not None])
        results: dict[str, Any] = {}
        errors: list[tuple[str, str]] = []  # not a dict: two numbers can mask alike
        for recipient in given:
            error: SmsApiError | None = recipient.error  # an impossible number is never looked up
            if recipient.e164 is not None:
                answer = answers[recipient.e164]
                if not isinstance(answer, SmsApiError):
                    results[recipient.e164] = answer
                    self._log(recipient.e164, answer, reveal)
                    continue
                error = answer  # messages carry masked numbers
            errors.append((mask_number(recipient.given, reveal=reveal), str(error)))
        if errors:
            details = "; ".join(f"{number}: {reason}" for number, reason in errors)
            raise AirflowException(f"{self.what} failed for {len(errors)} number(s): {details}")
        publish_summary(context, USAGE_SUMMARIES, usage_summary(self.paid_kind, len(results)))
        shown: dict[str, Any] = {}
        for number, result in results.items():
            key = mask_number(number, reveal=self.xcom_full_numbers)
            while key in shown:  # two numbers that mask alike
                key += "'"
            shown[key] = self._shown(result)
        return shown

    def _shown(self, result: dict[str, Any]) -> dict[str, Any]:
        """A result as the XCom holds it: the number it names masked unless ``xcom_full_numbers``."""
        if result.get("number") and not self.xcom_full_numbers:
            result = {**result, "number": mask_number(str(result["number"]))}
        return result

    def build_request(self, number: str) -> ApiRequest[HlrResult | FraudCheckResult]:
        """The look-up of one number (built by :mod:`~airflow_provider_sms.api.endpoints`)."""
        raise NotImplementedError

    def _lookup(self, number: str) -> dict[str, Any]:
        return self.hook.run(self.build_request(number)).to_dict()

    def _lookup_all(self, numbers: list[str]) -> dict[str, dict[str, Any] | SmsApiError]:
        """Each number's answer or error, as many in flight as the rate and the answer time need."""
        controller = InFlightController(self.hook.settings.rate_limit, maximum=max(1, len(numbers)))
        # A fatal error, or the API down, stops the list at once (see docs/failures.md).
        breaker = CircuitBreaker(self.what)

        def look_up(number: str) -> dict[str, Any] | None:
            if breaker.is_open:  # not tried
                return None
            try:
                answer = self._lookup(number)
            except SmsApiError as exc:
                breaker.record_failure(exc)
                raise
            breaker.record_success()
            return answer

        answers: dict[str, dict[str, Any] | SmsApiError] = {}
        running = run_adaptive(numbers, look_up, controller=controller, thread_name_prefix="look-up")
        for number, future in running:
            error = future.exception()
            if error is None:
                answer = future.result()
                if answer is not None:
                    answers[number] = answer
            elif isinstance(error, SmsApiError):
                answers[number] = error
            else:
                raise error
        answered = sum(1 for answer in answers.values() if not isinstance(answer, SmsApiError))
        breaker.check(
            f"{answered} look-up(s) were answered (and paid) before it stopped; look-ups "
            "are not journalled, so running the task again repeats them."
        )
        return answers

    def _log(self, number: object, result: dict[str, Any], reveal: bool) -> None:
        self.log.info(
            "%s of %s: %s", self.what, mask_number(str(number), reveal=reveal), result.get("status")
        )


class HlrLookupOperator(_LookupOperator):
    """HLR look-up: network (MCC/MNC), country and reachability of mobile numbers.

    Returns (XCom) the ``HlrResult`` fields (``status``, ``country``, ``network``, ``mccmnc``,
    ``number``, ``created_at``...) for ``number=``, or ``{number: {...}}`` for ``numbers=``;
    numbers masked (``+4479******56``; a key that masks like another gets a ``'``) unless
    ``xcom_full_numbers``.

    :param number: one number. Templated.
    :param numbers: a few numbers (a list, an XCom, or a comma-separated string). Templated.
    :param xcom_full_numbers: name full numbers in the XCom.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    paid_kind = "hlr"
    what = "HLR look-up"

    def build_request(self, number: str) -> ApiRequest[HlrResult]:
        return endpoints.hlr_lookup(number)


class FraudCheckOperator(_LookupOperator):
    """Fraud check: whether numbers are on fraud/suspicious lists and have a mobile prefix.

    Returns (XCom) ``{"status": "PASSED" | "NOT_MOBILE_PREFIX" | "SUSPICIOUS" | "FRAUDULENT",
    "mobile_prefix": bool}`` for ``number=``, or ``{number: {...}}`` for ``numbers=``, keyed
    by masked number unless ``xcom_full_numbers``.

    :param number: one number. Templated.
    :param numbers: a few numbers (a list, an XCom, or a comma-separated string). Templated.
    :param xcom_full_numbers: name full numbers in the XCom.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    paid_kind = "fraud_check"
    what = "Fraud check"

    def build_request(self, number: str) -> ApiRequest[FraudCheckResult]:
        return endpoints.fraud_check(number)


__all__ = ["FraudCheckOperator", "HlrLookupOperator"]
