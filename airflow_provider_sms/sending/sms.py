"""Sending one SMS text to a list: each number at most once (the journal), as many at a time as the
rate limit and the answer time need (:mod:`airflow_provider_sms.batch.inflight`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.numbers import mask_number
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.api.results import SmsResult
from airflow_provider_sms.batch.breaker import CircuitBreaker
from airflow_provider_sms.batch.inflight import InFlightController, run_adaptive
from airflow_provider_sms.sending.entries import Contact, Outcome, SendResult

if TYPE_CHECKING:
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.sending.journal import SendJournal

KIND = "sms"


@dataclass(frozen=True)
class SmsMessage:
    """One text, as it goes to every number of a list.

    :param text: the message; with the number and the task instance, it makes the journal key.
    :param sender: sender id, or ``None`` for the connection's default.
    :param callback_url: where delivery receipts go (kept out of ``repr``: it may hold the
        webhook secret).
    """

    text: str
    sender: str | None = None
    callback_url: str | None = field(default=None, repr=False)

    def request(self, number: str) -> ApiRequest[SmsResult]:
        """The request to ``number``; raises what the builder refuses (empty text, bad sender...)."""
        return endpoints.send_sms(number, self.text, self.sender, self.callback_url)

    def contact(self, number: str, *, reveal: bool = False) -> Contact:
        """How the journal keys and logs the message to ``number``."""
        return Contact(number, KIND, {"text": self.text}, mask_number(number, reveal=reveal))


def send_sms_to_all(
    hook: SmsApiHook,
    journal: SendJournal,
    numbers: Sequence[str],
    message: SmsMessage,
    *,
    max_workers: int | None = None,
    reveal: bool = False,
    messages: Sequence[SmsMessage] | None = None,
    breaker: CircuitBreaker | None = None,
) -> list[SendResult]:
    """Send ``message`` to every number, concurrently, at most once each; results in ``numbers``' order.

    The sends in flight follow the rate limit and the measured answer time (up to
    ``max_workers``); the hook's limiter keeps them under the account's rate limit. The
    journal (listed once, up front) makes a retry skip every number already sent and never
    resend one whose outcome is unknown.

    :param hook: the shared, thread-safe hook.
    :param journal: the task instance's journal.
    :param numbers: E.164 numbers without duplicates.
    :param message: the text, sender and callback URL.
    :param max_workers: the most sends in flight at once (an upper bound); ``None``: up to
        :data:`~airflow_provider_sms.batch.inflight.MAX_IN_FLIGHT`.
    :param reveal: log full numbers (the connection's ``log_full_numbers``).
    :param messages: one message per number, in ``numbers``' order (a personalised campaign):
        replaces ``message``. A number may then repeat, with different texts.
    :param breaker: the task's circuit breaker (default: a new one). Once it opens (a fatal
        error, or the API down), no new send starts; the sends under way finish and are
        journalled, then it raises (``AirflowFailException`` or ``ApiUnavailableError``): the
        numbers not tried have no journal entry, so a retry sends them.
    """
    if not numbers:
        return []
    earlier = journal.use_listing()
    journal.log.info("Send journal: %s (%d earlier entries)", journal.folder, earlier)

    if messages is not None and len(messages) != len(numbers):
        raise ValueError("messages must hold one message per number")
    items = list(zip(numbers, messages or [message] * len(numbers), strict=True))
    breaker = breaker or CircuitBreaker("Sending the SMS")

    def send_to(item: tuple[str, SmsMessage]) -> SendResult | None:
        if breaker.is_open:  # not started: no journal entry, a retry sends it
            return None
        number, text = item
        contact = text.contact(number, reveal=reveal)
        result = journal.send_once(contact, lambda: hook.run(text.request(number)))
        if result.outcome is Outcome.SENT:
            breaker.record_success()
        elif result.exception is not None:
            breaker.record_failure(result.exception)
        return result

    if len(items) == 1 or max_workers == 1:
        outcomes = [send_to(item) for item in items]
    else:
        most = min(max_workers or len(items), len(items))
        controller = InFlightController(hook.settings.rate_limit, maximum=most)
        done: dict[int, SendResult | None] = {}
        running = run_adaptive(
            range(len(items)), lambda i: send_to(items[i]), controller=controller, thread_name_prefix="sms"
        )
        for index, future in running:
            done[index] = future.result()
        outcomes = [done[index] for index in range(len(items))]
    results = [result for result in outcomes if result is not None]
    breaker.check(lambda: sent_so_far(results, len(numbers), journal))
    return results


def sent_so_far(results: Sequence[SendResult], total: int, journal: SendJournal) -> str:
    """What a stopped list send did, and where its journal is (for the task's failure message)."""
    counts = {outcome: 0 for outcome in Outcome}
    for result in results:
        counts[result.outcome] += 1
    return (
        f"Of {total} numbers, {counts[Outcome.SENT]} were sent now, {counts[Outcome.ALREADY_SENT]} "
        f"earlier, {counts[Outcome.FAILED]} failed (nobody reached), {counts[Outcome.UNKNOWN]} have an "
        f"unknown outcome and {total - len(results)} were not tried; all journalled in "
        f"{journal.folder}: a retry sends only the failed and untried ones."
    )


__all__ = ["KIND", "SmsMessage", "send_sms_to_all", "sent_so_far"]
