"""Whether the hygiene engine's scheduling keeps the limit full to its last request, without HTTP.

Not a test (nothing is asserted): the engine (``HygieneEngine``, its pipeline and in-flight
controller as they are) over a stand-in hook whose every request takes a turn from the
provider's real limiter (``AdaptiveRateLimiter`` at ``--rate``, pacing at 0.97 of it) and then
"waits for the API" for ``latency x (1 +/- jitter)`` seconds. No sockets, TLS or sandbox: a few
microseconds of CPU per request, so the figures show the scheduling (which request starts next)
and stay readable on a loaded machine, where ``latency_sweep.py`` measures the whole stack.

Printed per latency: **achieved/limit** (requests started per second from the first start to
the last, over the limit, as ``latency_sweep.py`` counts it), *before the drain* (the same up to
one answer time before the last start), the starts over the last answer time against the pace
(1.0: the limiter was kept busy to the end; about 0.5: a number's two requests ran back to back),
and the most requests in flight.

Run: ``python benchmarks/hygiene_tail.py [--rate 30] [--latencies 1000,3000] [--seconds 30]``
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="hygiene-tail-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from airflow_provider_sms.api.results import FraudCheckResult, HlrResult
from airflow_provider_sms.hooks.pacing import AdaptiveRateLimiter


class PacedHook:
    """Answers like the sandbox's UK mobiles (DELIVERED, PASSED) after a turn and a latency."""

    def __init__(self, rate: float, latency: float, jitter: float) -> None:
        self.settings = SimpleNamespace(rate_limit=rate, log_full_numbers=False)
        self.limiter = AdaptiveRateLimiter(rate)
        self.latency, self.jitter = latency, jitter
        self.starts: list[float] = []
        self._lock = threading.Lock()
        self._rng = random.Random(16)

    def get_conn(self) -> None:
        return None

    def _request(self) -> None:
        start = self.limiter.acquire()
        with self._lock:
            self.starts.append(start)
            answer = self.latency * self._rng.uniform(1 - self.jitter, 1 + self.jitter)
        time.sleep(answer)

    def hlr_lookup(self, number: str) -> HlrResult:
        self._request()
        return HlrResult(
            raw={}, id="x", product="insight.hlr", number=number, mccmnc="23410", network="O2",
            country="GB", status="DELIVERED", created_at=None,
        )  # fmt: skip

    def fraud_check(self, number: str) -> FraudCheckResult:
        self._request()
        return FraudCheckResult(raw={}, status="PASSED", mobile_prefix=True)


def run(rate: float, latency: float, jitter: float, numbers: int, work: Path) -> dict[str, float]:
    from airflow_provider_sms.batch import inflight
    from airflow_provider_sms.hygiene import HygieneEngine, HygieneOptions

    peak = 0
    original = inflight.InFlightController._begin

    def begin(controller: inflight.InFlightController) -> tuple[int, float]:
        nonlocal peak
        token = original(controller)
        peak = max(peak, controller.peak)
        return token

    inflight.InFlightController._begin = begin  # type: ignore[method-assign,assignment]
    try:
        source = work / f"list-{latency}.csv"
        source.write_text(
            "number\n" + "".join(f"+44791112{i:04d}\n" for i in range(numbers)), encoding="utf-8"
        )
        hook = PacedHook(rate, latency, jitter)
        HygieneEngine(hook, HygieneOptions(count_rows=False)).run(source, work / f"out-{latency}.csv")  # type: ignore[arg-type]
    finally:
        inflight.InFlightController._begin = original  # type: ignore[method-assign]
    starts = sorted(hook.starts)
    pace = hook.limiter.rate
    span = starts[-1] - starts[0]
    kept = [s for s in starts if s <= starts[-1] - latency]
    tail = sum(1 for s in starts if s > starts[-1] - latency)
    return {
        "requests": len(starts),
        "achieved": (len(starts) - 1) / span / rate,
        "sustained": (len(kept) - 1) / (kept[-1] - kept[0]) / rate,
        "tail": tail / (pace * latency),
        "peak": peak,
        "seconds": span,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=30.0, help="the account's limit (30)")
    parser.add_argument("--latencies", default="1000,3000", help="milliseconds (1000,3000)")
    parser.add_argument("--jitter", type=float, default=0.25, help="+/- fraction of the latency (0.25)")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of sending per list (30)")
    args = parser.parse_args(argv)
    numbers = math.ceil(args.rate / 2 * args.seconds)  # two requests per number
    work = Path(tempfile.mkdtemp(prefix="hygiene-tail-"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min); {numbers} numbers at {args.rate:g}/s")
    for latency in (float(ms) / 1000 for ms in args.latencies.split(",")):
        f = run(args.rate, latency, args.jitter, numbers, work)
        print(
            f"  answers in {latency * (1 - args.jitter):.2f}-{latency * (1 + args.jitter):.2f} s: "
            f"achieved/limit {f['achieved']:.3f}, before the drain {f['sustained']:.3f}, "
            f"last answer time at {f['tail']:.2f} of the pace, peak in flight {f['peak']}, "
            f"{f['requests']} requests in {f['seconds']:.1f} s",
            flush=True,
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
