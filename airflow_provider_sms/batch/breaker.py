"""A circuit breaker per task: stop a batch when the API keeps failing, instead of grinding.

Every request of a batch (a list send, a list look-up, a notifier's recipients, a hygiene run)
reports to one :class:`CircuitBreaker`:

- a **fatal** error (:func:`~airflow_provider_sms.exceptions.classify`: credentials, account,
  connection, TLS, journal) opens it at once: every other request would fail the same way;
- **consecutive outage failures** open it once there are ``threshold`` of them (default
  :data:`CONSECUTIVE_FAILURES`) with no answer from the API in between. An outage failure is a
  transient error that survived the hook's own retries (connection refused, timeouts, resets,
  5xx, 429), or a send whose outcome is unknown (:class:`DeliveryUnknownError`: the API failed
  mid-request). Each one already took the hook's whole retry schedule (a few seconds), so five
  in a row means the API has been failing every request for seconds, not one blip;
- any answer from the API (a success, or a per-item refusal such as an invalid number)
  resets the count: sporadic failures keep their per-item outcome and never stop the batch.

Once open, the batch starts no new request; requests already under way finish, what they sent
or paid for is kept (the send journal, hygiene's resume state), then :meth:`CircuitBreaker.check`
raises: ``AirflowFailException`` for a fatal error (no Airflow retry), or the retryable
:class:`~airflow_provider_sms.exceptions.ApiUnavailableError` for an outage, whose Airflow
retry resumes where the batch stopped. Thread-safe: worker threads share one breaker.
"""

from __future__ import annotations

import threading

from airflow_provider_sms.exceptions import ApiUnavailableError, DeliveryUnknownError, ErrorClass, classify
from airflow_provider_sms.failures import Done, fatal_failure

CONSECUTIVE_FAILURES = 5
"""Outage failures in a row (each after the hook's own retries) that open the breaker."""


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the API is not answering (as opposed to answering "no")."""
    return classify(exc) is ErrorClass.TRANSIENT or isinstance(exc, DeliveryUnknownError)


class CircuitBreaker:
    """Counts a batch's failures; open once a fatal error or ``threshold`` outage failures in a row came.

    :param what: what the batch does, for the messages ("Sending the SMS", "Number hygiene"...).
    :param threshold: consecutive outage failures that open it (at least 1).
    """

    def __init__(self, what: str, *, threshold: int = CONSECUTIVE_FAILURES) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold!r}")
        self.what = what
        self.threshold = threshold
        self._lock = threading.Lock()
        self._consecutive = 0
        self.failures = 0
        self.fatal: BaseException | None = None
        self.outage: BaseException | None = None  # the failure that opened the breaker

    def record_success(self) -> None:
        """The API answered: the run of outage failures is over."""
        with self._lock:
            self._consecutive = 0

    def record_failure(self, exc: BaseException) -> ErrorClass | None:
        """Count a request's failure (after the hook's retries); returns its class.

        A per-item refusal is an answer from the API, so it resets the count as a success does.
        """
        error_class = classify(exc)
        with self._lock:
            self.failures += 1
            if error_class is ErrorClass.FATAL:
                if self.fatal is None:
                    self.fatal = exc
            elif is_outage(exc):
                self._consecutive += 1
                if self._consecutive >= self.threshold and self.outage is None:
                    self.outage = exc
            else:
                self._consecutive = 0
        return error_class

    def record(self, exc: BaseException | None) -> None:
        """:meth:`record_success` when ``exc`` is ``None``, else :meth:`record_failure`."""
        if exc is None:
            self.record_success()
        else:
            self.record_failure(exc)

    @property
    def is_open(self) -> bool:
        """Whether the batch must start no new request."""
        return self.fatal is not None or self.outage is not None

    def check(self, done: Done = None) -> None:
        """Raise when open: ``AirflowFailException`` for a fatal error, else :class:`ApiUnavailableError`.

        Call it once the requests under way have finished and their outcomes are saved.

        :param done: what was sent or paid for and where it is kept (a sentence or a function).
        """
        if self.fatal is not None:
            raise fatal_failure(self.fatal, self.what, done) from self.fatal
        if self.outage is not None:
            raise self.unavailable(done) from self.outage

    def unavailable(self, done: Done = None) -> ApiUnavailableError:
        """The retryable error saying the API looks down."""
        already = done() if callable(done) else done
        return ApiUnavailableError(
            f"{self.what} stopped: the API looks down ({self.threshold} requests in a row failed after "
            f"the hook's own retries; the last: {self.outage}). No new request was started; the ones "
            f"under way finished. {already + ' ' if already else ''}Airflow's retry (or clearing the "
            "task) resumes where it stopped, without sending or paying for anything twice."
        )


__all__ = ["CONSECUTIVE_FAILURES", "CircuitBreaker", "is_outage"]
