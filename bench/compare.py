#!/usr/bin/env python3
"""esbuild under two builds of emu, against the Linux release natively, in
one interleaved run: each round runs every command once, in an order
shuffled anew each round, and the medians of the rounds are compared. This
VM's speed drifts by several percent over minutes; interleaving keeps the
drift out of the ratios, which separate hyperfine blocks do not, and the
shuffle keeps out what a fixed place in the round may add (in a fixed
order, two runs over the same pair of binaries disagreed by 1.5 points). The
last column is the median, over the rounds, of each command's time less
native's in the same round.

    bench/compare.py OTHER_EMU [ROUNDS]

OTHER_EMU: another emu binary (for example the previous version, built
again in a git worktree); ROUNDS: 40 by default. Uses the release emu of
this tree and the npm packages bench/run.sh installs (target/npm)."""
import os
import random
import statistics
import subprocess
import sys
import time

if len(sys.argv) < 2:
    sys.exit(__doc__)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
other = os.path.abspath(sys.argv[1])
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 40
this = os.path.join(root, "target/x86_64-unknown-linux-gnu/release/emu")
modules = os.path.join(root, "target/npm/node_modules")
linux, freebsd = "./@esbuild/linux-x64/bin/esbuild", "./@esbuild/freebsd-x64/bin/esbuild"
args = ["three/src/Three.js", "--bundle", "--minify", "--sourcemap", "--outdir=/tmp/emu-compare", "--log-level=warning"]
commands = {
    "Linux release, native": [linux],
    "Linux release, this emu": [this, linux],
    "Linux release, other emu": [other, linux],
    "FreeBSD release, this emu": [this, freebsd],
    "FreeBSD release, other emu": [other, freebsd],
}
times = {name: [] for name in commands}
cpu = {name: [] for name in commands}
seed = random.randrange(1 << 32)
shuffle = random.Random(seed).shuffle
for r in range(rounds + 2):
    order = list(commands.items())
    shuffle(order)
    for name, command in order:
        start = time.perf_counter()
        child = subprocess.Popen(command + args, cwd=modules)
        _, status, usage = os.wait4(child.pid, 0)
        if status != 0:
            sys.exit(f"{name}: exit status {status}")
        if r >= 2:  # two rounds of warm-up
            times[name].append((time.perf_counter() - start) * 1e3)
            cpu[name].append((usage.ru_utime + usage.ru_stime) * 1e3)
native_times = times["Linux release, native"]
native = statistics.median(native_times)
print(f"| esbuild, median of {rounds} interleaved rounds | ms | / Linux native | ms over native, paired |")
print("| --- | ---: | ---: | ---: |")
for name, t in times.items():
    m = statistics.median(t)
    paired = statistics.median(a - b for a, b in zip(t, native_times))
    print(f"| {name} | {m:.1f} | {m / native:.3f} | {paired:+.2f} |")
for release in ("Linux", "FreeBSD"):
    this_t, other_t = times[f"{release} release, this emu"], times[f"{release} release, other emu"]
    paired = statistics.median(a - b for a, b in zip(this_t, other_t))
    print(f"{release} release: this emu minus the other, median over rounds: {paired:+.2f} ms")
print()
print("CPU time (user and system, all threads), the same runs:")
print()
print("| esbuild | CPU ms, median | / Linux native |")
print("| --- | ---: | ---: |")
native_cpu = statistics.median(cpu["Linux release, native"])
for name, t in cpu.items():
    print(f"| {name} | {statistics.median(t):.1f} | {statistics.median(t) / native_cpu:.3f} |")
print(f"(order of each round shuffled with seed {seed})")
