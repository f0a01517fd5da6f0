"""Command line: start the sandbox, print one JSON line describing it, serve until signalled."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from types import FrameType

from .core import parse_latency
from .faults import parse_spec
from .server import Sandbox


def _latency(value: str) -> str:
    parse_latency(value)  # validate early, with argparse's error message
    return value


def _faults(value: str) -> str:
    try:
        parse_spec(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="airflow-sms-sandbox",
        description="Local HTTPS twin of the SMS/voice/number-insight API (see docs/sandbox.md).",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8443, help="port; 0 picks a free one (default 8443)")
    p.add_argument("--rate-limit", type=int, default=30, help="requests per second per account (default 30)")
    p.add_argument("--latency-ms", type=_latency, default="5", help="per /v1 response: MS or LOW-HIGH (5)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for ids and DIDs (default: fresh random ids at each start) and for latency jitter "
        "and faults (default 0)",
    )
    p.add_argument("--expire-after", type=float, default=60, help="incoming-call reservation life, s (60)")
    p.add_argument("--grace", type=float, default=30, help="s after expiry GET still says EXPIRED (30)")
    p.add_argument("--faults", type=_faults, default=None, help='e.g. "500=0.1,reset=0.02,stall=0.01"')
    p.add_argument("--webhook-url", default=None, help="where inbound SMS are delivered")
    p.add_argument("--inbound-retry-window", type=float, default=120, help='redelivery window, s ("24 h")')
    p.add_argument("--state-dir", default=None, help="where ca.pem and the server key go (default: temp dir)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        seed=args.seed,
        expire_after=args.expire_after,
        grace=args.grace,
        faults=args.faults,
        webhook_url=args.webhook_url,
        inbound_retry_window=args.inbound_retry_window,
        state_dir=args.state_dir,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sandbox.start()
    except (OSError, RuntimeError) as exc:
        print(f"airflow-sms-sandbox: cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(json.dumps(sandbox.info()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0
