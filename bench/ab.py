#!/usr/bin/env python3
"""Two emu binaries on one short command, paired: each round runs the
command under both, in a random order, and the median over rounds of the
difference (the first minus the second) is printed with a bootstrap 95%
interval. Suited to start-up changes of tens of microseconds, which
separate hyperfine blocks lose in this VM's drift.

    bench/ab.py EMU_A EMU_B ROUNDS COMMAND [ARGS...]

For example, in target/npm/node_modules after bench/run.sh:
    bench/ab.py NEW_EMU OLD_EMU 800 ./@esbuild/freebsd-x64/bin/esbuild --version
"""
import os
import random
import statistics
import subprocess
import sys
import time

if len(sys.argv) < 5:
    sys.exit(__doc__)
a, b, rounds, command = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
WARM_UP = 5
times = {a: [], b: []}
with open(os.devnull, "w") as null:
    for r in range(rounds + WARM_UP):
        order = [a, b]
        random.shuffle(order)
        for emu in order:
            start = time.perf_counter()
            subprocess.run([emu] + command, stdout=null, stderr=null, check=True)
            if r >= WARM_UP:
                times[emu].append((time.perf_counter() - start) * 1e3)
diff = [x - y for x, y in zip(times[a], times[b])]
medians = sorted(statistics.median(random.choices(diff, k=len(diff))) for _ in range(1000))
print(
    f"A {statistics.median(times[a]):.3f} ms, B {statistics.median(times[b]):.3f} ms; "
    f"A - B, paired median: {statistics.median(diff) * 1000:+.0f} us "
    f"(95%: {medians[25] * 1000:+.0f} to {medians[975] * 1000:+.0f})"
)
