"""What a request is: an endpoint, an HTTP method and path, a body, and the parser of its answer.

Kept apart from the builders (:mod:`airflow_provider_sms.api.endpoints`) and the parsers
(:mod:`airflow_provider_sms.api.responses`) so that both can name it without importing
each other.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T", covariant=True)


class Endpoint(enum.Enum):
    """What a request does; decides whether a resend is safe, and names it in logs and errors."""

    SEND_SMS = "send_sms"
    HLR_LOOKUP = "hlr_lookup"
    FRAUD_CHECK = "fraud_check"
    FLASH_CALL = "flash_call"
    RESERVE_INCOMING_CALL = "reserve_incoming_call"
    GET_INCOMING_CALL = "get_incoming_call"
    PIN_TO_SPEECH_CALL = "pin_to_speech_call"
    TEXT_TO_SPEECH_CALL = "text_to_speech_call"
    NOTIFY_VERIFIED = "notify_verified"

    @property
    def reaches_a_person(self) -> bool:
        """Sends a message or places a call: costs money, must never be repeated blindly."""
        return self in _REACHES_A_PERSON


_REACHES_A_PERSON = frozenset(
    {Endpoint.SEND_SMS, Endpoint.FLASH_CALL, Endpoint.PIN_TO_SPEECH_CALL, Endpoint.TEXT_TO_SPEECH_CALL}
)


@dataclass(frozen=True, slots=True)
class ApiRequest(Generic[T]):
    """One HTTP request to the API, relative to the API base URL, and how to read its answer.

    :param endpoint: which endpoint; decides retry safety.
    :param method: ``"GET"`` or ``"POST"``.
    :param path: path below the API base, e.g. ``/sms``.
    :param body: JSON body (``None`` for GET).
    :param number: the E.164 number concerned, for logs (masked there) and errors.
    :param parse: turns the answer's JSON object into the typed result ``T``; raises
        ``KeyError``/``TypeError``/``ValueError`` for an answer without the documented fields.
    """

    endpoint: Endpoint
    method: str
    path: str
    body: dict[str, Any] | None = None
    number: str | None = field(default=None)
    parse: Callable[[dict[str, Any]], T] = field(kw_only=True, compare=False, repr=False)

    @property
    def resend_safe(self) -> bool:
        """Whether repeating the request after a lost answer is harmless.

        Look-ups and status reads are; anything that reaches a person is not. Reserving an
        incoming call is not either: a second reservation would give the user another DID.
        """
        return not self.endpoint.reaches_a_person and self.endpoint is not Endpoint.RESERVE_INCOMING_CALL


__all__ = ["ApiRequest", "Endpoint"]
