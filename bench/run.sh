#!/bin/sh
# emu's benchmark: per-call overhead, start-up time and peak memory, each
# against the native run of the same program. Prints a Markdown report (the
# README's figures come from it). Needs hyperfine, strace and GNU time
# (./scripts/test installs them); qemu-x86_64 is measured when present.
#
#   bench/run.sh [N]      N: calls in the per-call loop (default 1000000)
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000000}
N_STRACE=$((N / 50))
B=bench/build
mkdir -p "$B"

cargo build --release -q
EMU=target/x86_64-unknown-linux-gnu/release/emu
gcc -O2 -static -o "$B/getppid_loop" tests/guests/getppid_loop.c
gcc -O2 -static -o "$B/hello" tests/guests/hello.c
gcc -O2 -o "$B/sud_floor" bench/sud_floor.c

json() { echo "$B/$1.json"; }

# Mean seconds of a command, by hyperfine.
mean() {
    name=$1
    shift
    hyperfine -N --style none --warmup 2 --runs "${RUNS:-10}" --export-json "$(json "$name")" "$@" >"$B/$name.log" 2>&1 ||
        { cat "$B/$name.log" >&2; exit 1; }
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['mean'])" "$(json "$name")"
}

# Nanoseconds per call: the loop at N calls minus the loop at 0 calls.
per_call() {
    name=$1
    n=$2
    shift 2
    full=$(mean "$name-$n" "$* $n")
    empty=$(mean "$name-0" "$* 0")
    python3 -c "import sys; print(round((float(sys.argv[1]) - float(sys.argv[2])) / int(sys.argv[3]) * 1e9))" "$full" "$empty" "$n"
}

native=$(per_call native "$N" "$B/getppid_loop")
floor=$(per_call floor "$N" "$B/sud_floor")
emu=$(per_call emu "$N" "$EMU $B/getppid_loop")
strace_ns=$(RUNS=3 per_call strace "$N_STRACE" "strace -f -o /dev/null $B/getppid_loop")
qemu=""
if command -v qemu-x86_64 >/dev/null; then
    qemu=$(per_call qemu "$N" "qemu-x86_64 $B/getppid_loop")
fi

start_native=$(mean start-native "$B/hello")
start_emu=$(mean start-emu "$EMU $B/hello")

# Peak resident memory (kB), the largest of five runs.
rss() {
    best=0
    for _ in 1 2 3 4 5; do
        kb=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1)
        [ "$kb" -gt "$best" ] && best=$kb
    done
    echo "$best"
}
rss_native=$(rss "$B/hello")
rss_emu=$(rss "$EMU" "$B/hello")

python3 - "$native" "$floor" "$emu" "$strace_ns" "$qemu" "$start_native" "$start_emu" "$rss_native" "$rss_emu" "$N" <<'PY'
import sys
native, floor, emu, strace = (int(x) for x in sys.argv[1:5])
qemu = sys.argv[5]
start_native, start_emu = float(sys.argv[6]) * 1e3, float(sys.argv[7]) * 1e3
rss_native, rss_emu = int(sys.argv[8]), int(sys.argv[9])
n = sys.argv[10]
print(f"Per call: a static glibc loop of {n} getppid() calls, (time at N - time at 0) / N, hyperfine means")
print()
print("| runner | ns per call | vs native | vs bare SUD floor |")
print("| --- | ---: | ---: | ---: |")
rows = [("native", native), ("bare SUD floor (bench/sud_floor.c)", floor), ("emu", emu), ("strace -f", strace)]
if qemu:
    rows.append(("qemu-x86_64", int(qemu)))
for name, ns in rows:
    print(f"| {name} | {ns} | {ns / native:.1f}x | {ns / floor:.2f}x |")
print()
print(f"emu / floor = {emu / floor:.2f} (target: at most 1.25)")
print()
print("| start-up of a static hello world | ms |")
print("| --- | ---: |")
print(f"| native | {start_native:.2f} |")
print(f"| emu | {start_emu:.2f} |")
print(f"| emu - native | {start_emu - start_native:.2f} (target: at most 3) |")
print()
print("| peak RSS of a static hello world | KiB |")
print("| --- | ---: |")
print(f"| native | {rss_native} |")
print(f"| emu | {rss_emu} |")
print(f"| emu - native | {rss_emu - rss_native} (target: at most 4096) |")
PY
