"""Sending SMS texts to a list: each (number, text) at most once (the journal), as many at a time as
the rate limit and the answer time need (:mod:`airflow_provider_sms.batch.inflight`).

:func:`send_each` is the loop both list sends share: it reads its messages lazily (a bounded
window ahead of the sends in flight) and yields each outcome as it arrives, so a caller that
folds them as they come (:class:`~airflow_provider_sms.sending.report.SendReport`) keeps nothing
per message in memory. :func:`send_sms_to_all` collects them in the list's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

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


class Addressed(NamedTuple):
    """One message to one number, as :func:`send_each` takes it.

    :param number: the E.164 number.
    :param message: the text, sender and callback URL.
    :param segments: the segments it costs (a campaign counts those sent; ``0``: not counted).
    """

    number: str
    message: SmsMessage
    segments: int = 0


def send_each(
    hook: SmsApiHook,
    journal: SendJournal,
    items: Iterable[Addressed],
    *,
    total: int,
    max_workers: int | None = None,
    reveal: bool = False,
    breaker: CircuitBreaker | None = None,
) -> Iterator[tuple[Addressed, SendResult]]:
    """Send each message at most once, concurrently; yield ``(item, result)`` as each finishes.

    ``items`` is read lazily, only as far ahead as the sends in flight need; the outcomes are
    yielded in the order the sends finish and not kept here. The sends in flight follow the
    rate limit and the measured answer time (up to ``max_workers``); the hook's limiter keeps
    them under the account's rate limit. The journal (listed once, before the first send) makes
    a retry skip every message already sent and never resend one whose outcome is unknown.

    Once the breaker opens (a fatal error, or the API down), no new send starts; the sends under
    way finish, are journalled and yielded, then the iteration raises (``AirflowFailException``
    or ``ApiUnavailableError``): the messages not tried have no journal entry, so a retry sends
    them.

    :param hook: the shared, thread-safe hook.
    :param journal: the task instance's journal.
    :param items: the messages (a number may repeat, with different texts).
    :param total: how many ``items`` there are (for the log and the failure message).
    :param max_workers: the most sends in flight at once (an upper bound); ``None``: up to
        :data:`~airflow_provider_sms.batch.inflight.MAX_IN_FLIGHT`.
    :param reveal: log full numbers (the connection's ``log_full_numbers``).
    :param breaker: the task's circuit breaker (default: a new one).
    """
    if total < 1:
        return
    earlier = journal.use_listing()
    journal.log.info("Send journal: %s (%d earlier entries)", journal.folder, earlier)
    breaker = breaker or CircuitBreaker("Sending the SMS")
    tally = {outcome: 0 for outcome in Outcome}

    def send_to(item: Addressed) -> SendResult | None:
        if breaker.is_open:  # not started: no journal entry, a retry sends it
            return None
        contact = item.message.contact(item.number, reveal=reveal)
        result = journal.send_once(contact, lambda: hook.run(item.message.request(item.number)))
        if result.outcome is Outcome.SENT:
            breaker.record_success()
        elif result.exception is not None:
            breaker.record_failure(result.exception)
        return result

    def finished() -> Iterator[tuple[Addressed, SendResult | None]]:
        if total == 1 or max_workers == 1:
            for item in items:
                yield item, send_to(item)
            return
        controller = InFlightController(hook.settings.rate_limit, maximum=min(max_workers or total, total))
        for item, future in run_adaptive(items, send_to, controller=controller, thread_name_prefix="sms"):
            yield item, future.result()

    for item, result in finished():
        if result is not None:
            tally[result.outcome] += 1
            yield item, result
    breaker.check(lambda: sent_so_far(tally, total, journal))


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
    """Send ``message`` to every number (:func:`send_each`); the results in ``numbers``' order.

    :param hook: the shared, thread-safe hook.
    :param journal: the task instance's journal.
    :param numbers: E.164 numbers without duplicates.
    :param message: the text, sender and callback URL.
    :param max_workers: the most sends in flight at once (an upper bound); ``None``: up to
        :data:`~airflow_provider_sms.batch.inflight.MAX_IN_FLIGHT`.
    :param reveal: log full numbers (the connection's ``log_full_numbers``).
    :param messages: one message per number, in ``numbers``' order (a personalised list):
        replaces ``message``. A number may then repeat, with different texts.
    :param breaker: the task's circuit breaker (see :func:`send_each`).
    """
    if messages is not None and len(messages) != len(numbers):
        raise ValueError("messages must hold one message per number")
    items = [Addressed(n, m) for n, m in zip(numbers, messages or [message] * len(numbers), strict=True)]
    position = {id(item): index for index, item in enumerate(items)}
    done: dict[int, SendResult] = {}
    for item, result in send_each(
        hook, journal, items, total=len(items), max_workers=max_workers, reveal=reveal, breaker=breaker
    ):
        done[position[id(item)]] = result
    return [done[index] for index in sorted(done)]


def sent_so_far(tally: Mapping[Outcome, int], total: int, journal: SendJournal) -> str:
    """What a stopped list send did, and where its journal is (for the task's failure message).

    :param tally: the messages tried so far, per outcome.
    :param total: the messages of the list.
    """
    counts = {outcome: tally.get(outcome, 0) for outcome in Outcome}
    return (
        f"Of {total} numbers, {counts[Outcome.SENT]} were sent now, {counts[Outcome.ALREADY_SENT]} "
        f"earlier, {counts[Outcome.FAILED]} failed (nobody reached), {counts[Outcome.UNKNOWN]} have an "
        f"unknown outcome and {total - sum(counts.values())} were not tried; all journalled in "
        f"{journal.folder}: a retry sends only the failed and untried ones."
    )


__all__ = ["KIND", "Addressed", "SmsMessage", "send_each", "send_sms_to_all", "sent_so_far"]
