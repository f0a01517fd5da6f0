"""What the SMS and voice notifiers share: recipients, both send paths, the report."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseNotifier

from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.batch.breaker import CircuitBreaker
from airflow_provider_sms.batch.inflight import InFlightController, run_adaptive, run_adaptive_async
from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.failures import fail_fast
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook
from airflow_provider_sms.privacy import PrivateRenderingMixin
from airflow_provider_sms.sending.recipients import normalize_recipients, numbers_from_value

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class SmsApiNotifier(PrivateRenderingMixin, BaseNotifier):
    """Send one hook request per recipient, from ``notify`` or ``async_notify``.

    Every recipient is tried even if one fails; the notifier raises at the end, naming the
    (masked) numbers that failed. Recipients are reached several at a time, as many as the
    rate limit and the answer time need (:mod:`airflow_provider_sms.batch.inflight`). A fatal
    error (credentials, connection, TLS) stops at once with ``AirflowFailException``, and when
    the API looks down (the circuit breaker of :mod:`~airflow_provider_sms.batch.breaker`) the
    remaining recipients are not tried: ``ApiUnavailableError``. Notifications are not
    journalled: a callback that runs twice reaches people twice. Subclasses build the request
    for one recipient.

    Its ``numbers`` are rendered privately (:mod:`airflow_provider_sms.privacy`): once rendered,
    the attribute shows them masked, always (a notifier has no connection to read
    ``log_full_numbers`` from before it sends, and no view shows its fields); every call renders
    again from the values given, so one notifier serves any number of callbacks.

    :param numbers: one number, a list, or a comma-separated string. Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    what: ClassVar[str]  # "SMS", "Voice call": for log lines and errors
    number_fields = ("numbers",)

    def __init__(self, *, numbers: str | Iterable[str], sms_api_conn_id: str) -> None:
        super().__init__()
        self.numbers = numbers
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def request(self, number: str) -> ApiRequest[Any]:
        """The request for one recipient, the same for both paths (an :mod:`~.api.endpoints` builder).

        A request the API layer refuses (an empty text, an unknown language) is that
        recipient's failure, as a refusal by the API would be.
        """
        raise NotImplementedError

    def reveal_numbers(self) -> bool:
        return False

    def notify(self, context: Context) -> None:
        numbers = recipients(self.rendered("numbers"))
        hook = self.hook
        breaker = CircuitBreaker(f"{self.what} notification")
        outcomes: list[tuple[str, BaseException | None]] = []
        with fail_fast(f"{self.what} notification", lambda: _done(outcomes)):
            controller = InFlightController(hook.settings.rate_limit, maximum=len(numbers))

            def send(number: str) -> bool:
                if breaker.is_open:  # not tried: the API refused or looks down
                    return False
                try:
                    hook.run(self.request(number))
                except SmsApiError as exc:
                    breaker.record_failure(exc)
                    raise
                breaker.record_success()
                return True

            tried: dict[str, BaseException | None] = {}
            for number, future in run_adaptive(
                numbers, send, controller=controller, thread_name_prefix="notify"
            ):
                error = future.exception()
                if error is None:
                    if future.result():
                        tried[number] = None
                elif isinstance(error, SmsApiError):
                    tried[number] = error
                else:
                    raise error
            outcomes.extend((number, tried[number]) for number in numbers if number in tried)
            breaker.check(lambda: _done(outcomes))
            report(self, self.what, outcomes, hook.settings.log_full_numbers)

    async def async_notify(self, context: Context) -> None:
        numbers = recipients(self.rendered("numbers"))
        breaker = CircuitBreaker(f"{self.what} notification")
        skipped = object()
        with fail_fast(f"{self.what} notification"):
            async with SmsApiAsyncHook(sms_api_conn_id=self.sms_api_conn_id) as hook:
                settings = await hook.get_settings()
                controller = InFlightController(settings.rate_limit, maximum=len(numbers))

                async def send(number: str) -> object:
                    if breaker.is_open:  # not tried: the API refused or looks down
                        return skipped
                    try:
                        result = await hook.run(self.request(number))
                    except SmsApiError as exc:
                        breaker.record_failure(exc)
                        raise
                    breaker.record_success()
                    return result

                results: dict[str, object] = {}
                async for number, task in run_adaptive_async(numbers, send, controller=controller):
                    results[number] = task.exception() or task.result()
            outcomes = [
                _outcome(number, results[number]) for number in numbers if results[number] is not skipped
            ]
            breaker.check(lambda: _done(outcomes))
            report(self, self.what, outcomes, settings.log_full_numbers)

    def get_template_env(self, dag: Any = None) -> jinja2.Environment:
        # DAG-level callbacks may get a serialized DAG (dag.test() passes one), which cannot
        # build a template environment: render with the default one instead of failing.
        return super().get_template_env(dag=dag if hasattr(dag, "get_template_env") else None)


def recipients(numbers: object) -> list[str]:
    """E.164 numbers without duplicates (an impossible number fails before anything is sent)."""
    found = normalize_recipients(numbers_from_value(numbers))
    found.raise_if_invalid()
    if not found.numbers:
        raise AirflowException("The notifier has no recipients")
    return found.numbers


def report(
    notifier: BaseNotifier, what: str, outcomes: list[tuple[str, BaseException | None]], reveal: bool
) -> None:
    """Log each recipient's outcome (masked), raise if any failed."""
    failed = []
    for number, error in outcomes:
        masked = mask_number(number, reveal=reveal)
        if error is None:
            notifier.log.info("%s notification sent to %s", what, masked)
        else:
            notifier.log.error("%s notification to %s failed: %s", what, masked, error)
            failed.append(masked)
    if failed:
        raise AirflowException(
            f"{what} notification failed for {len(failed)} recipient(s): {', '.join(failed)}"
        )


def _done(outcomes: list[tuple[str, BaseException | None]]) -> str:
    sent = sum(1 for _, error in outcomes if error is None)
    return f"{sent} notification(s) were sent before it stopped (notifications are not journalled)."


def _outcome(number: str, result: object) -> tuple[str, BaseException | None]:
    if isinstance(result, BaseException):
        if not isinstance(result, Exception):
            raise result  # cancellation and the like are not a failed notification
        return number, result
    return number, None
