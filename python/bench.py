"""Figures for BENCHMARKS.md ("Python wheel"), run with the python of a venv the wheel is installed
in (not a test; nothing asserted):

    python python/bench.py [ITERATIONS]

1. Start-up: from ``Sandbox().start()`` (the wheel's binary, a new SQLite database) to the first
   answered sandbox call.
2. The ``fastreg_world`` fixture's own work per test, ITERATIONS times (default 200): create a
   world seeded with the demo world (as exported once per session) and delete it; p50, p99, max.
"""

from __future__ import annotations

import statistics
import sys
import time

from fastreg import Sandbox, create_world


def main() -> None:
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    t0 = time.perf_counter()
    with Sandbox() as sandbox:
        sandbox.client.worlds()
        started = time.perf_counter() - t0
        seed = sandbox.demo_seed()
        for _ in range(10):  # warm-up: connections, the first world's rows
            create_world(sandbox, seed=seed).delete()
        times = []
        for i in range(iterations):
            t = time.perf_counter()
            world = create_world(sandbox, seed=seed, name=f"bench {i}")
            world.delete()
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(round(0.99 * len(times))) - 1)]
    print(f"start to first answer: {started * 1000:.0f} ms")
    print(
        f"world create + delete ({iterations}x, demo seed): p50 {statistics.median(times):.2f} ms, "
        f"p99 {p99:.2f} ms, max {times[-1]:.2f} ms"
    )


if __name__ == "__main__":
    main()
