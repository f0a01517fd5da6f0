"""The send journal's records: what one entry holds, whose entries a folder holds, what one try did."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow.sdk import Context


class EntryStatus(str, enum.Enum):
    """What the journal knows about one message or call."""

    IN_FLIGHT = "in_flight"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Outcome(str, enum.Enum):
    """What happened to one recipient in this try.

    ``ELSEWHERE``: another task instance of the same task (another map index) holds the claim and
    is sending it right now; that instance reports the outcome, so this one counts it as neither
    sent nor failed.
    """

    SENT = "sent"
    ALREADY_SENT = "already_sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    ELSEWHERE = "elsewhere"


class Sent(Protocol):
    """What a successful send returns (every hook result of a message or a call does)."""

    @property
    def request_id(self) -> str:
        """The API's id of the message or call, which its delivery receipts carry."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-safe data, for the journal entry and the XCom."""
        ...


@dataclass(frozen=True)
class Contact:
    """One message or call to one person, as the journal keys and logs it.

    :param number: the E.164 number (part of the key).
    :param kind: the kind of contact (``sms``, ``flash_call``...), part of the key.
    :param content: what reaches the person (text, code...), part of the key.
    :param masked: the number as logs may show it.
    """

    number: str
    kind: str
    content: Mapping[str, Any]
    masked: str


@dataclass(frozen=True)
class JournalEntry:
    """One attempt's record (the JSON file's content).

    :param key: the journal key (task, run, number, kind, content).
    :param status: what is known about this attempt.
    :param number: the E.164 number.
    :param kind: the kind of contact.
    :param recorded_at: when this status was written (ISO-8601, UTC).
    :param try_number: the try of the task instance that made the attempt.
    :param request_id: the API's id, once sent.
    :param result: the hook result (``to_dict()``), once sent.
    :param error: why it failed or is unknown (masked number).
    :param attempt: the attempt's number (1, 2...; 0 for an entry of the old layout, which had none).
    :param map_index: the map index of the task instance that made the attempt.
    """

    key: str
    status: EntryStatus
    number: str
    kind: str
    recorded_at: str
    try_number: int | None = None
    request_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    attempt: int = 0
    map_index: int | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, key: str, text: str, attempt: int = 0) -> JournalEntry:
        """Parse an entry; an unreadable one reads as ``unknown`` (never as "safe to send").

        :param attempt: the attempt its file name says (an unreadable entry keeps it).
        """
        try:
            data = json.loads(text)
            map_index = data.get("map_index")
            return cls(
                key=key,
                status=EntryStatus(data["status"]),
                number=str(data.get("number") or ""),
                kind=str(data.get("kind") or ""),
                recorded_at=str(data.get("recorded_at") or ""),
                try_number=data.get("try_number"),
                request_id=data.get("request_id"),
                result=data.get("result") if isinstance(data.get("result"), dict) else None,
                error=data.get("error"),
                attempt=attempt,
                map_index=None if map_index is None else int(map_index),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return cls(
                key, EntryStatus.UNKNOWN, "", "", "", error="unreadable journal entry", attempt=attempt
            )


@dataclass(frozen=True)
class TaskScope:
    """The task instance whose sends a journal folder holds."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int | None = None

    @classmethod
    def from_context(cls, context: Context) -> TaskScope:
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        return cls(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=-1 if map_index is None else int(map_index),
            try_number=getattr(ti, "try_number", None),
        )


@dataclass
class SendResult:
    """One recipient's outcome in this try.

    :param outcome: sent now, already sent (by an earlier try or another map index), failed,
        unknown, or being sent by another map index.
    :param number: the E.164 number.
    :param request_id: the API's request id (sent and already sent).
    :param result: the hook result as a dict (``to_dict()``), for XCom.
    :param error: why it failed or is unknown (safe to log: masked number).
    :param exception: the exception of this try, if one was raised.
    """

    outcome: Outcome
    number: str
    request_id: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    exception: BaseException | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.SENT, Outcome.ALREADY_SENT)


__all__ = ["Contact", "EntryStatus", "JournalEntry", "Outcome", "SendResult", "Sent", "TaskScope"]
