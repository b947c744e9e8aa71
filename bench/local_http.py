"""Read-side latency through the local host's HTTP server (what `make run` serves).

`python -m bench.local_http [REQUESTS]`: starts the local host (5 sensors, ticks every
second), waits for every sensor's first summary, then times sequential requests of
`/api/summary-timestamps`, a conditional chart request (304) and a full chart (200).
Prints p50 / p95 in ms per route, and the host process's CPU time per request (from
/proc, far less sensitive than wall-clock time to other load on a shared machine): run
it before and after a change to the HTTP path.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.servers import LocalHost, free_port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(requests: int = 300) -> dict[str, tuple[float, float, float]]:
    with tempfile.TemporaryDirectory() as folder:
        host = LocalHost(
            free_port(), Path(folder) / "bench.db", ("--interval", "1", "--seed", "3"), Path(folder) / "log"
        ).start()
        try:
            with httpx.Client(base_url=host.url, timeout=10) as client:
                deadline = time.monotonic() + 60
                while len(client.get("/api/summary-timestamps").json()) < 5:
                    if time.monotonic() > deadline:
                        raise TimeoutError("no summaries after 60 s")
                    time.sleep(0.2)
                etag = client.get("/plot/sensor-1.png").headers["etag"]
                routes = {
                    "summary-timestamps": lambda: client.get("/api/summary-timestamps"),
                    "chart 304": lambda: client.get("/plot/sensor-1.png", headers={"If-None-Match": etag}),
                    "chart 200": lambda: client.get("/plot/sensor-2.png"),
                }
                assert host.process is not None
                results = {}
                for name, call in routes.items():
                    timings = []
                    cpu_before = cpu_seconds(host.process.pid)
                    for _ in range(requests):
                        started = time.perf_counter()
                        call()
                        timings.append((time.perf_counter() - started) * 1000)
                    cpu_ms = (cpu_seconds(host.process.pid) - cpu_before) * 1000 / requests
                    results[name] = (percentile(timings, 0.5), percentile(timings, 0.95), cpu_ms)
                return results
        finally:
            host.stop()


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    for name, (p50, p95, cpu_ms) in measure(requests).items():
        print(f"{name:20s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  host CPU {cpu_ms:5.2f} ms/request")


if __name__ == "__main__":
    main()
