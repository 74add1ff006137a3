"""Benchmark of the personal-data scrubber on adversarial input (issue "Hardening", finding 1).

Times, in one run, the scrubber's entry points (`scrub_attributes`, `scrub_status`,
`redact_contact_values`, the JSON log formatter) and the bare contact pattern on 1 MiB
values built to make a backtracking pattern slow ("aaaa...", "a@a.a@a.", "a@a@a@", digits,
"0-0-0-"). Before the fix the e-mail pattern was quadratic (a 32,000-character run took about
4 s, 1 MiB would take over an hour); with bounded repetitions and the 2 KiB cap each line
should be milliseconds. The tests check only that it finishes (no timed assertions).

    .venv/bin/python bench/scrubber.py [--size 1048576] [--repeat 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from functools import partial

from opentelemetry.trace import Status, StatusCode

from subsidy_platform import telemetry
from subsidy_platform.logs import JsonFormatter


def inputs(size: int) -> dict[str, str]:
    return {
        "letters": "a" * size,
        "a@a.": "a@a." * (size // 4),
        "a@": "a@" * (size // 2),
        "digits": "0" * size,
        "0-0-": "0-0-" * (size // 4),
    }


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2**20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    formatter = JsonFormatter("bench")
    print(f"{'input':10} {'pattern ms':>11} {'attributes ms':>14} {'status ms':>10} {'log ms':>8}")
    for name, value in inputs(args.size).items():
        record = logging.LogRecord("bench", logging.ERROR, "bench", 1, "failed %s", (value,), None)
        cells = [
            median_ms(partial(telemetry._CONTACT_VALUE.search, value), args.repeat),
            median_ms(partial(telemetry.scrub_attributes, {"id": value}), args.repeat),
            median_ms(
                partial(telemetry.scrub_status, Status(StatusCode.ERROR, value)), args.repeat
            ),
            median_ms(partial(formatter.format, record), args.repeat),
        ]
        print(f"{name:10} {cells[0]:11.2f} {cells[1]:14.3f} {cells[2]:10.3f} {cells[3]:8.3f}")


if __name__ == "__main__":
    main()
