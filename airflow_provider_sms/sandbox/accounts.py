"""Demo accounts of the sandbox and their sender allow-lists.

The ``demo`` account uses the reference's own credentials so that the curl examples
of the API documentation work against the sandbox with only the host changed.

====================  =======================  ===========================  ======================
name                  key                      secret                       answers
====================  =======================  ===========================  ======================
``demo``              ``1efc292194c04e9b530``  ``b0b6c43e9a75c51f``         live account
``demo2``             ``2a7d9e41b8c35f06d71``  ``d4e5f60718293a4b``         live, own rate window
``inactive-account``  ``inactive-account``     ``inactive-account-secret``  errorCode 2 / HTTP 400
``inactive-token``    ``inactive-token``       ``inactive-token-secret``    errorCode 5 / HTTP 401
``not-live``          ``not-live``             ``not-live-secret``          errorCode 6 / HTTP 403
====================  =======================  ===========================  ======================

Every account shares the same allow-lists: ``SMS_SENDERS`` for the ``from`` of
``POST /v1/sms`` (alphanumeric or numeric sender ids) and ``CALLER_IDS`` for the
``from`` of calls (pre-validated caller-id numbers). Anything else answers errorCode 16.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_sms.api import constants as c

DEMO_KEY = "1efc292194c04e9b530"
DEMO_SECRET = "b0b6c43e9a75c51f"  # noqa: S105 - the reference's published demo secret

# Sender ids pre-validated "by support" for SMS. Alphanumeric ids compare exactly
# (case-sensitive, as a handset displays them); numeric ids compare by digits.
SMS_SENDERS: tuple[str, ...] = ("InfoSMS", "Alerts", "+15005550006")
# Caller-id numbers validated for flash/p2s/t2s calls (compared by digits).
CALLER_IDS: tuple[str, ...] = ("+15005550006", "+447700900123")

STATE_LIVE = "live"
STATE_INACTIVE_ACCOUNT = "inactive_account"
STATE_INACTIVE_TOKEN = "inactive_token"  # noqa: S105 - an account state, not a secret
STATE_NOT_LIVE = "not_live"

# Which error an account in a given state answers (after the credentials matched).
_STATE_ERRORS: dict[str, int] = {
    STATE_INACTIVE_TOKEN: c.ERROR_INACTIVE_TOKEN,
    STATE_INACTIVE_ACCOUNT: c.ERROR_INACTIVE_ACCOUNT,
    STATE_NOT_LIVE: c.ERROR_ACCOUNT_NOT_LIVE,
}


@dataclass(frozen=True)
class Account:
    name: str
    key: str
    secret: str
    state: str = STATE_LIVE
    sms_senders: tuple[str, ...] = field(default=SMS_SENDERS)
    caller_ids: tuple[str, ...] = field(default=CALLER_IDS)

    def public(self) -> dict[str, Any]:
        """The JSON-able description printed by the CLI and returned by ``Sandbox.info()``."""
        return {
            "key": self.key,
            "secret": self.secret,
            "state": self.state,
            "sms_senders": list(self.sms_senders),
            "caller_ids": list(self.caller_ids),
        }

    def state_error(self) -> int | None:
        return _STATE_ERRORS.get(self.state)

    def sms_sender_allowed(self, sender: str) -> bool:
        sender = sender.strip()
        if sender in self.sms_senders:
            return True
        digits = _digits(sender)
        return digits is not None and any(_digits(s) == digits for s in self.sms_senders)

    def caller_id_allowed(self, caller: str) -> bool:
        digits = _digits(caller.strip())
        return digits is not None and any(_digits(s) == digits for s in self.caller_ids)


def _digits(value: str) -> str | None:
    """Digits of a numeric sender (optional leading ``+``), None when alphanumeric."""
    body = value[1:] if value.startswith("+") else value
    return body if body.isdigit() and body.isascii() else None


DEFAULT_ACCOUNTS: tuple[Account, ...] = (
    Account("demo", DEMO_KEY, DEMO_SECRET),
    Account("demo2", "2a7d9e41b8c35f06d71", "d4e5f60718293a4b"),
    Account("inactive-account", "inactive-account", "inactive-account-secret", STATE_INACTIVE_ACCOUNT),
    Account("inactive-token", "inactive-token", "inactive-token-secret", STATE_INACTIVE_TOKEN),
    Account("not-live", "not-live", "not-live-secret", STATE_NOT_LIVE),
)


class AccountBook:
    """Looks accounts up by HTTP Basic credentials (constant-time secret compare)."""

    def __init__(self, accounts: tuple[Account, ...] = DEFAULT_ACCOUNTS) -> None:
        self._by_name = {a.name: a for a in accounts}
        self._by_key = {a.key: a for a in accounts}

    def __getitem__(self, name: str) -> Account:
        return self._by_name[name]

    def names(self) -> list[str]:
        return list(self._by_name)

    def public(self) -> dict[str, dict[str, Any]]:
        return {name: a.public() for name, a in self._by_name.items()}

    def authenticate(self, authorization: str | None) -> Account | None:
        """The account whose ``key:secret`` the Authorization header carries, else None."""
        if not authorization:
            return None
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return None
        try:
            decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        key, sep, secret = decoded.partition(":")
        if not sep:
            return None
        account = self._by_key.get(key)
        if account is None:
            return None
        if not hmac.compare_digest(account.secret.encode(), secret.encode()):
            return None
        return account
