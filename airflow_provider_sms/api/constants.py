"""Public constants of the SMS & Voice API, as its reference documents them.

This module is the only code the sandbox shares with the client: names of paths,
error codes and the documented value lists. Behaviour (validation, parsing) is
written separately on each side so that the sandbox can disagree with a buggy client.
"""

from __future__ import annotations

DEFAULT_API_PATH = "/v1"
API_RATE_LIMIT_PER_SECOND = 30

# Endpoint paths, relative to the API base (``https://host/v1``).
PATH_SMS = "/sms"
PATH_HLR = "/insight/hlr"
PATH_FRAUD_CHECK = "/insight/fraudcheck"
PATH_FLASH_CALL = "/calls/flash"
PATH_INCOMING_CALL = "/calls/incoming"
PATH_INCOMING_CALL_INFO = "/calls/incoming/{request_id}"
PATH_PIN_TO_SPEECH = "/calls/p2s"
PATH_TEXT_TO_SPEECH = "/calls/t2s"
PATH_REQUEST_GOAL = "/requests/{request_id}"

GOAL_NUMBER_VERIFIED = "NUMBER_VERIFIED"

# Error codes of the reference: code -> (HTTP status, reason).
ERROR_AUTHENTICATION_REQUIRED = 1
ERROR_INACTIVE_ACCOUNT = 2
ERROR_TOO_MANY_REQUESTS = 4
ERROR_INACTIVE_TOKEN = 5
ERROR_ACCOUNT_NOT_LIVE = 6
ERROR_INVALID_REQUEST = 10
ERROR_INVALID_NUMBER = 11
ERROR_SENDER_NOT_ALLOWED = 16
ERROR_NOT_FOUND = 404

ERRORS: dict[int, tuple[int, str]] = {
    ERROR_AUTHENTICATION_REQUIRED: (401, "Authentication required"),
    ERROR_INACTIVE_ACCOUNT: (400, "Inactive account"),
    ERROR_TOO_MANY_REQUESTS: (429, "Too many requests"),
    ERROR_INACTIVE_TOKEN: (401, "Inactive token"),
    ERROR_ACCOUNT_NOT_LIVE: (403, "Account not in live"),
    ERROR_INVALID_REQUEST: (400, "Invalid request"),
    ERROR_INVALID_NUMBER: (400, "Invalid number"),
    ERROR_SENDER_NOT_ALLOWED: (400, "Sender not allowed"),
    ERROR_NOT_FOUND: (404, "Request not found or expired"),
}

# Pin-to-speech voices; text-to-speech knows only English and Russian.
PIN_TO_SPEECH_LANGUAGES = frozenset(
    (
        "am ar az bn de en es fa fr he hi hy id it ja ka kk km ky mg mn ms my ne ps pt ru "
        "si sn so sv sw ta tg tk uk ur uz vi zh"
    ).split()
)
TEXT_TO_SPEECH_LANGUAGES = frozenset({"en", "ru"})
DEFAULT_LANGUAGE = "en"

# Fraud check statuses. The reference's example spells the first one "FRAUDLENT".
FRAUD_PASSED = "PASSED"
FRAUD_NOT_MOBILE_PREFIX = "NOT_MOBILE_PREFIX"
FRAUD_SUSPICIOUS = "SUSPICIOUS"
FRAUD_FRAUDULENT = "FRAUDULENT"
FRAUD_FRAUDULENT_MISSPELLED = "FRAUDLENT"

# HLR look-up statuses: DELIVERED means the subscriber is known and reachable.
HLR_DELIVERED = "DELIVERED"
HLR_UNDELIVERED = "UNDELIVERED"

# Incoming-call reservation statuses.
INCOMING_PENDING = "PENDING"
INCOMING_DELIVERED = "DELIVERED"
INCOMING_EXPIRED = "EXPIRED"

# Delivery-receipt (callback) statuses and the SIP codes the reference pairs with them.
RECEIPT_STATUSES = frozenset(
    {
        "SENT",
        "REJECTED",
        "FAILURE",
        "DECLINE",
        "FORBIDDEN",
        "ANSWERED",
        "TERMINATED",
        "UNAVAILABLE",
        "BUSY_HERE",
        "DELIVERED",
        "UNDELIVERED",
    }
)
SIP_STATUS_BY_CALL_STATUS = {
    "ANSWERED": 200,
    "TERMINATED": 487,
    "UNAVAILABLE": 480,
    "BUSY_HERE": 486,
    "DECLINE": 603,
    "FORBIDDEN": 403,
    "FAILURE": 500,
}
