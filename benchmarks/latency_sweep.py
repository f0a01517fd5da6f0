"""Whether the batch paths keep the account's rate limit full however long the API takes to answer.

Not a test (nothing is asserted): a script that starts the HTTPS sandbox in its own process
and prints ratios measured in this one run:

(a) a latency sweep at the real API's 30 requests/s: the sandbox answers in 50 ms, 200 ms, 1 s
    and 3 s, each with +/- ``--jitter`` (25 %) uniform jitter. At each latency
    - the hygiene engine (what ``NumberHygieneOperator`` runs) over a list of unique numbers
      sized for ``--seconds`` (30) of sending, and
    - a list send (``send_sms_to_all``, what ``SendSmsOperator`` runs) to ``--send-numbers``
      (2,000) numbers through a send journal;
(b) a 300 requests/s account (``--fast-rate``) on one worker: the hygiene engine at 100-200 ms
    answers, sized for ``--seconds`` of sending;
(c) the same account and answers, HLR look-ups of as many numbers driven two ways: threads
    (:func:`run_adaptive` over ``SmsApiHook``, what the sync batch paths use) and the async
    transport (:func:`run_adaptive_async` over ``SmsApiAsyncHook``, one event loop), for the
    choice between them (docs/development.md).

For each: **achieved/limit** = requests started per second, from the first start to the last
(the hook's limiter's start times), over the limit (target >= 0.95, 0.90 for (b)); **wall** =
requests over the whole call's time, over the limit (it includes the last answers' latency,
which no concurrency can hide: 3 s of tail on a 30 s batch is 10 %); the 429s the hook saw
(target 0); the most pieces of work in flight at once; the client process's CPU time per
request (both hooks' and the loop's; the sandbox runs in a process of its own); *started
late*: requests whose thread ran more than 30 ms after its turn (a CPU stall on a loaded
machine): at 97 % of the limit such a request reaches the API beside the next second's and
can overflow its window (a 429).
``--scale 0.3`` shrinks every batch for a quick look (ratios get noisier: warm-up weighs more).

Run: ``python benchmarks/latency_sweep.py [--scale 1] [--latencies 50,200,1000,3000] [--only abc]``
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

# Airflow reads its home on import: never the user's ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="latency-sweep-airflow-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hook_throughput import start_sandbox, stop_sandbox

from airflow_provider_sms.batch import inflight

LATE = 0.03  # a request whose thread ran this long after its turn can overflow the API's window
_NUMBER_BASE = 447911120000  # UK mobiles: HLR DELIVERED, fraud check PASSED, SMS accepted


@contextlib.contextmanager
def sandbox(rate: int, latency_ms: str) -> Iterator[None]:
    """A sandbox of its own, the connection pointed at it with the account's ``rate``."""
    proc, info = start_sandbox(rate, latency_ms)
    try:
        conn = json.loads(info["airflow_conn"])
        conn["extra"]["rate_limit"] = rate
        os.environ["AIRFLOW_CONN_SMS_API_DEFAULT"] = json.dumps(conn)
        Recorder.server = psutil.Process(proc.pid)
        yield
    finally:
        Recorder.server = None
        stop_sandbox(proc)


def _cpu_seconds(process: psutil.Process | None) -> float:
    """User + system CPU seconds of ``process`` (this one when ``None``), all its threads."""
    if process is None:
        return time.process_time()
    times = process.cpu_times()
    return times.user + times.system


class Recorder:
    """Start times from the hook's limiter, and the most work in flight, for one batch."""

    server: psutil.Process | None = None  # the sandbox's process, for its CPU time

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.late: list[float] = []  # how long after its turn each request's thread (or task) ran
        self.peak = 0
        self.drain = 0.0  # seconds: the answer time, whose last stretch "sustained" leaves out
        self._wrapped: set[int] = set()
        original = inflight.InFlightController._begin
        recorder = self

        def begin(controller: inflight.InFlightController) -> tuple[int, float]:
            token = original(controller)
            recorder.peak = max(recorder.peak, controller.peak)
            return token

        inflight.InFlightController._begin = begin  # type: ignore[method-assign]

    def watch(self, hook: Any) -> None:
        self.watch_limiter(hook.limiter)

    def watch_limiter(self, limiter: Any) -> None:
        if id(limiter) in self._wrapped:
            return
        self._wrapped.add(id(limiter))
        acquire, acquire_async = limiter.acquire, limiter.acquire_async

        def recorded() -> float:
            start = acquire()
            self.starts.append(start)
            self.late.append(time.monotonic() - start)
            return start

        async def recorded_async() -> float:
            start = await acquire_async()
            self.starts.append(start)
            self.late.append(time.monotonic() - start)
            return start

        limiter.acquire, limiter.acquire_async = recorded, recorded_async

    def reset(self) -> None:
        self.starts.clear()
        self.late.clear()
        self.peak = 0
        self._cpu = time.process_time()
        self._server_cpu = _cpu_seconds(self.server) if self.server is not None else math.nan

    def figures(self, rate: float, wall: float, throttled: int) -> dict[str, Any]:
        starts = sorted(self.starts)
        span = starts[-1] - starts[0] if len(starts) > 1 else math.nan
        # Before the drain: the starts up to one answer time before the last. A hygiene check is
        # two requests one after the other: with each number's two run back to back, only the
        # fraud checks of the last look-ups were left to start over the last answer time (about
        # half the pace). The engine now runs look-ups ahead of fraud checks, so the two ratios
        # should agree; a gap between them shows a drain again.
        kept = [start for start in starts if start <= starts[-1] - self.drain] if starts else []
        steady_span = kept[-1] - kept[0] if len(kept) > 1 else math.nan
        return {
            "requests": len(starts),
            "achieved": (len(starts) - 1) / span / rate,
            "sustained": (len(kept) - 1) / steady_span / rate if steady_span > 0 else math.nan,
            "wall": len(starts) / wall / rate,
            "throttled": throttled,
            "peak": self.peak,
            "seconds": wall,
            "cpu_ms": (time.process_time() - self._cpu) * 1000 / max(len(starts), 1),
            "server_cpu_ms": (
                (_cpu_seconds(self.server) - self._server_cpu) * 1000 / max(len(starts), 1)
                if self.server is not None
                else math.nan
            ),
            "late": sum(1 for late in self.late if late > LATE),
        }


def numbers(count: int, offset: int) -> list[str]:
    return [f"+{_NUMBER_BASE + offset + i}" for i in range(count)]


def hygiene_case(recorder: Recorder, rate: int, rows: int, work: Path, offset: int) -> dict[str, Any]:
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.hygiene import HygieneEngine, HygieneOptions

    source = work / f"list-{offset}.csv"
    source.write_text("number\n" + "".join(f"{n}\n" for n in numbers(rows, offset)), encoding="utf-8")
    hook = SmsApiHook()
    recorder.watch(hook)
    recorder.reset()
    throttled = hook.limiter.throttled_count
    began = time.monotonic()
    HygieneEngine(hook, HygieneOptions(count_rows=False)).run(source, work / f"out-{offset}.csv")
    wall = time.monotonic() - began
    return recorder.figures(rate, wall, hook.limiter.throttled_count - throttled)


def send_case(recorder: Recorder, rate: int, count: int, work: Path, offset: int) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.sending.journal import SendJournal, TaskScope
    from airflow_provider_sms.sending.sms import SmsMessage, send_sms_to_all

    hook = SmsApiHook()
    recorder.watch(hook)
    recorder.reset()
    journal = SendJournal(
        ObjectStoragePath(str(work / "journal")), TaskScope("sweep", f"run-{offset}", "send")
    )
    throttled = hook.limiter.throttled_count
    began = time.monotonic()
    results = send_sms_to_all(hook, journal, numbers(count, offset), SmsMessage("Your parcel is on its way"))
    wall = time.monotonic() - began
    figures = recorder.figures(rate, wall, hook.limiter.throttled_count - throttled)
    figures["not_sent"] = sum(1 for r in results if r.outcome.value != "sent")
    return figures


def lookups_threads(recorder: Recorder, rate: int, count: int, offset: int) -> dict[str, Any]:
    from airflow_provider_sms.api import endpoints
    from airflow_provider_sms.hooks.sms_api import SmsApiHook

    hook = SmsApiHook()
    recorder.watch(hook)
    recorder.reset()
    throttled = hook.limiter.throttled_count
    began = time.monotonic()
    controller = inflight.InFlightController(rate)
    look_up = lambda number: hook.run(endpoints.hlr_lookup(number))  # noqa: E731
    for _number, future in inflight.run_adaptive(numbers(count, offset), look_up, controller=controller):
        future.result()
    return recorder.figures(rate, time.monotonic() - began, hook.limiter.throttled_count - throttled)


def lookups_async(recorder: Recorder, rate: int, count: int, offset: int) -> dict[str, Any]:
    import asyncio

    from airflow_provider_sms.api import endpoints
    from airflow_provider_sms.hooks.pacing import limiter_for
    from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook

    async def main() -> dict[str, Any]:
        async with SmsApiAsyncHook() as hook:
            settings = await hook.get_settings()
            limiter = limiter_for(settings.limiter_key, settings.rate_limit)
            recorder.watch_limiter(limiter)
            recorder.reset()
            throttled = limiter.throttled_count
            began = time.monotonic()
            controller = inflight.InFlightController(rate)

            async def look_up(number: str) -> Any:
                return await hook.run(endpoints.hlr_lookup(number))

            async for _number, task in inflight.run_adaptive_async(
                numbers(count, offset), look_up, controller=controller
            ):
                task.result()
            wall = time.monotonic() - began
            return recorder.figures(rate, wall, limiter.throttled_count - throttled)

    return asyncio.run(main())


def show(label: str, f: dict[str, Any], target: float) -> None:
    extra = f" not sent {f['not_sent']}" if "not_sent" in f else ""
    print(
        f"  {label:<32} achieved/limit {f['achieved']:.3f} (target >= {target}), "
        f"before the drain {f['sustained']:.3f}, wall {f['wall']:.3f}, "
        f"429s {f['throttled']}, peak in flight {f['peak']}, {f['requests']} requests in "
        f"{f['seconds']:.1f} s, client CPU {f['cpu_ms']:.2f} ms/request, "
        f"sandbox CPU {f['server_cpu_ms']:.2f} ms/request, "
        f"started late {f['late']}{extra}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="abc", help="which cases: any of a, b, c (abc)")
    parser.add_argument("--rate", type=int, default=30, help="(a): the account's limit (30)")
    parser.add_argument(
        "--latencies", default="50,200,1000,3000", help="(a): milliseconds (50,200,1000,3000)"
    )
    parser.add_argument("--jitter", type=float, default=0.25, help="(a): +/- fraction of the latency (0.25)")
    parser.add_argument("--seconds", type=float, default=30.0, help="hygiene: seconds of sending (30)")
    parser.add_argument("--send-numbers", type=int, default=2000, help="(a): numbers of the list send (2000)")
    parser.add_argument("--fast-rate", type=int, default=300, help="(b): the account's limit (300)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every batch's size (1)")
    args = parser.parse_args(argv)

    recorder = Recorder()
    work = Path(tempfile.mkdtemp(prefix="latency-sweep-"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} (1 min)", flush=True)
    offset = 0
    if "a" in args.only:
        rows = math.ceil(args.rate / 2 * args.seconds * args.scale)  # two look-ups per number
        sends = max(2, round(args.send_numbers * args.scale))
        print(f"(a) {args.rate} requests/s: hygiene of {rows} numbers, list send to {sends} numbers")
        for latency in (float(ms) for ms in args.latencies.split(",")):
            spread = f"{latency * (1 - args.jitter):.0f}-{latency * (1 + args.jitter):.0f}"
            print(f" answers in {spread} ms", flush=True)
            recorder.drain = latency / 1000
            # A fresh sandbox (a new port: a new account key) for each case: no case inherits
            # another's 429s.
            with sandbox(args.rate, spread):
                show("hygiene engine", hygiene_case(recorder, args.rate, rows, work, offset), 0.95)
            offset += rows
            with sandbox(args.rate, spread):
                show("list send", send_case(recorder, args.rate, sends, work, offset), 0.95)
            offset += sends
    recorder.drain = 0.15  # (b), (c): answers in 100-200 ms
    if "b" in args.only:
        rows = math.ceil(args.fast_rate / 2 * args.seconds * args.scale)
        print(
            f"(b) {args.fast_rate} requests/s on one worker, answers in 100-200 ms: hygiene of {rows} numbers"
        )
        with sandbox(args.fast_rate, "100-200"):
            show("hygiene engine", hygiene_case(recorder, args.fast_rate, rows, work, offset), 0.90)
        offset += rows
    if "c" in args.only:
        count = math.ceil(args.fast_rate * args.seconds * args.scale)
        print(f"(c) {args.fast_rate} requests/s, answers in 100-200 ms: {count} HLR look-ups")
        with sandbox(args.fast_rate, "100-200"):
            show("threads (SmsApiHook)", lookups_threads(recorder, args.fast_rate, count, offset), 0.90)
        offset += count
        with sandbox(args.fast_rate, "100-200"):
            show("async (SmsApiAsyncHook)", lookups_async(recorder, args.fast_rate, count, offset), 0.90)
    print(f"load average at end: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
