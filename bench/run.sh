#!/bin/sh
# emu's benchmark: per-call overhead (one thread, and as many busy threads
# as cores), start-up time, peak memory, thread creation, and esbuild
# bundling three.js, each against the native run of the same program;
# dynamically linked programs' start-up (a hello world, python3, bash); and
# the FreeBSD personality: the same Go call loop built for FreeBSD and for
# Linux under emu, and esbuild's FreeBSD release under emu against its
# Linux release natively.
# Prints a Markdown report (the README's figures come from it). Needs
# hyperfine, strace, GNU time and npm (./scripts/test installs them);
# qemu-x86_64 is measured when present.
#
#   bench/run.sh [N]      N: calls in the per-call loop (default 1000000)
set -eu
cd "$(dirname "$0")/.."
N=${1:-1000000}
N_STRACE=$((N / 50))
B=bench/build
mkdir -p "$B"

cargo build --release -q --bin emu --example double_stdout
EMU=target/x86_64-unknown-linux-gnu/release/emu
RUST_HOOK=target/x86_64-unknown-linux-gnu/release/examples/double_stdout
mkdir -p "$B/hook-abi"
"$EMU" abi hook-header >"$B/hook-abi/emu_hook.h"
gcc -O2 -shared -fPIC -I"$B/hook-abi" -o "$B/libdouble_stdout.so" hooks/double_stdout.c
gcc -O2 -static -pthread -o "$B/getppid_loop" tests/guests/getppid_loop.c
gcc -O2 -static -o "$B/mmap_loop" bench/mmap_loop.c
gcc -O2 -static -o "$B/hello" tests/guests/hello.c
gcc -O2 -o "$B/hello-dynamic" tests/guests/hello.c
gcc -O2 -pthread -o "$B/sud_floor" bench/sud_floor.c
gcc -O2 -static -pthread -o "$B/thread_churn" bench/thread_churn.c
CORES=$(nproc)
for os in linux freebsd; do
    (cd bench/go && export GOCACHE="$PWD/../../$B/go-cache" GOOS=$os GOARCH=amd64 CGO_ENABLED=0 GOFLAGS=-buildvcs=false &&
        go build -o "../../$B/getppid-$os" ./getppid && go build -o "../../$B/clock-$os" ./clock)
done

# The packages tests/npm pins (esbuild for Linux and three.js), as the
# tests install them.
NPM=target/npm
if ! cmp -s tests/npm/package-lock.json "$NPM/installed-lock.json"; then
    mkdir -p "$NPM"
    cp tests/npm/package.json tests/npm/package-lock.json "$NPM/"
    (cd "$NPM" && npm ci --force --no-audit --no-fund --loglevel=error)
    cp tests/npm/package-lock.json "$NPM/installed-lock.json"
fi
ESBUILD="$PWD/$NPM/node_modules/@esbuild/linux-x64/bin/esbuild"
ESBUILD_FREEBSD="$PWD/$NPM/node_modules/@esbuild/freebsd-x64/bin/esbuild"

json() { echo "$B/$1.json"; }

# Mean seconds of a command, by hyperfine.
mean() {
    name=$1
    shift
    hyperfine -N --style none --warmup 2 --runs "${RUNS:-10}" --export-json "$(json "$name")" "$@" >"$B/$name.log" 2>&1 ||
        { cat "$B/$name.log" >&2; exit 1; }
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['mean'])" "$(json "$name")"
}

# esbuild's runs: ROUNDS hyperfine runs of 6 runs of each command, one
# after another, merged into one JSON (the times of each command). A VM's
# speed drifts over seconds; alternating keeps the drift out of the ratios.
#   alternating NAME DIR COMMAND...     (run in DIR)
ROUNDS=5
alternating() {
    name=$1
    dir=$2
    shift 2
    for round in $(seq "$ROUNDS"); do
        (cd "$dir" && hyperfine -N --style none --warmup 1 --runs 6 --export-json "$OLDPWD/$B/$name-$round.json" "$@" \
            >"$OLDPWD/$B/$name.log" 2>&1) || { cat "$B/$name.log" >&2; exit 1; }
    done
    python3 - "$(json "$name")" "$B/$name" "$ROUNDS" <<'PY'
import json, sys
out, prefix, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
merged = None
for r in range(1, rounds + 1):
    results = json.load(open(f"{prefix}-{r}.json"))["results"]
    if merged is None:
        merged = [{"command": x["command"], "times": []} for x in results]
    for m, x in zip(merged, results):
        m["times"] += x["times"]
json.dump({"results": merged}, open(out, "w"))
PY
}

# Nanoseconds per call: the loop at N calls minus the loop at 0 calls.
#   per_call NAME N COMMAND [THREADS]
per_call() {
    name=$1
    n=$2
    command=$3
    threads=${4:-}
    full=$(mean "$name-$n" "$command $n $threads")
    empty=$(mean "$name-0" "$command 0 $threads")
    python3 -c "import sys; print(round((float(sys.argv[1]) - float(sys.argv[2])) / int(sys.argv[3]) * 1e9))" "$full" "$empty" "$n"
}

native=$(per_call native "$N" "$B/getppid_loop")
floor=$(per_call floor "$N" "$B/sud_floor")
emu=$(per_call emu "$N" "$EMU $B/getppid_loop")
# The trap path alone (no site rewritten), and a traced run.
emu_trap=$(per_call emu-trap "$N" "$EMU --no-rewrite $B/getppid_loop")
N_TRACE=$((N / 10))
emu_trace=$(per_call emu-trace "$N_TRACE" "$EMU --trace -o /dev/null $B/getppid_loop")
emu_trace_trap=$(per_call emu-trace-trap "$N_TRACE" "$EMU --no-rewrite --trace -o /dev/null $B/getppid_loop")
# A call emu carries out itself: mmap and munmap pairs.
N_MMAP=$((N / 4))
mmap_native=$(per_call mmap-native "$N_MMAP" "$B/mmap_loop")
mmap_emu=$(per_call mmap-emu "$N_MMAP" "$EMU $B/mmap_loop")
mmap_trap=$(per_call mmap-trap "$N_MMAP" "$EMU --no-rewrite $B/mmap_loop")
# A hook that sees every call and forwards getppid: in Rust, and as a C plugin.
hook_rust=$(per_call hook-rust "$N" "$RUST_HOOK $B/getppid_loop")
hook_plugin=$(per_call hook-plugin "$N" "$EMU --hook $B/libdouble_stdout.so $B/getppid_loop")
# N calls on each of CORES threads at once: wall time per call.
floor_busy=$(per_call floor-busy "$N" "$B/sud_floor" "$CORES")
emu_busy=$(per_call emu-busy "$N" "$EMU $B/getppid_loop" "$CORES")
strace_ns=$(RUNS=3 per_call strace "$N_STRACE" "strace -f -o /dev/null $B/getppid_loop")
qemu=""
if command -v qemu-x86_64 >/dev/null; then
    qemu=$(per_call qemu "$N" "qemu-x86_64 $B/getppid_loop")
fi

# The FreeBSD personality's translation: the same Go loop for both ABIs.
go_linux=$(per_call emu-go-linux "$N" "$EMU $B/getppid-linux")
go_freebsd=$(per_call emu-go-freebsd "$N" "$EMU $B/getppid-freebsd")
go_linux_trap=$(per_call emu-go-linux-trap "$N" "$EMU --no-rewrite $B/getppid-linux")
go_freebsd_trap=$(per_call emu-go-freebsd-trap "$N" "$EMU --no-rewrite $B/getppid-freebsd")
# A clock read (time.Now): the Linux build natively (the vDSO), the FreeBSD
# build under emu (a clock_gettime call each).
clock_linux=$(per_call clock-linux "$N" "$B/clock-linux")
clock_freebsd=$(per_call clock-freebsd "$N" "$EMU $B/clock-freebsd")
clock_freebsd_trap=$(per_call clock-freebsd-trap "$N" "$EMU --no-rewrite $B/clock-freebsd")

# esbuild's FreeBSD release under emu against its Linux release natively.
bundle_min="three/src/Three.js --bundle --minify --outdir=$PWD/$B/esbuild-freebsd --log-level=warning"
alternating esbuild-freebsd "$NPM/node_modules" \
    "$ESBUILD $bundle_min" "$PWD/$EMU $ESBUILD_FREEBSD $bundle_min" "$PWD/$EMU --no-rewrite $ESBUILD_FREEBSD $bundle_min"

# Thread creation and join, microseconds per thread.
CHURN=10000
churn_native=$(mean churn-native "$B/thread_churn $CHURN")
churn_emu=$(mean churn-emu "$EMU $B/thread_churn $CHURN")

# esbuild bundling three.js, native and under emu.
bundle="$ESBUILD three/src/Three.js --bundle --minify --sourcemap --outdir=$PWD/$B/esbuild --log-level=warning"
alternating esbuild "$NPM/node_modules" "$bundle" "$PWD/$EMU $bundle" "$PWD/$EMU --no-rewrite $bundle"

start_native=$(mean start-native "$B/hello")
start_emu=$(mean start-emu "$EMU $B/hello")
# Dynamically linked programs: a hello world, Python and bash doing nothing.
start_dyn_native=$(mean start-dyn-native "$B/hello-dynamic")
start_dyn_emu=$(mean start-dyn-emu "$EMU $B/hello-dynamic")
python_native=$(mean python-native "/usr/bin/python3 -c pass")
python_emu=$(mean python-emu "$EMU /usr/bin/python3 -c pass")
bash_native=$(mean bash-native "/bin/bash -c true")
bash_emu=$(mean bash-emu "$EMU /bin/bash -c true")

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

EMU_TRAP=$emu_trap EMU_TRACE="$emu_trace $emu_trace_trap" MMAP="$mmap_native $mmap_emu $mmap_trap" \
    GO_TRAP="$go_linux_trap $go_freebsd_trap" HOOKS="$hook_rust $hook_plugin" \
    GO_LINUX=$go_linux GO_FREEBSD=$go_freebsd CLOCK="$clock_linux $clock_freebsd $clock_freebsd_trap" ESBUILD_FREEBSD_JSON=$(json esbuild-freebsd) \
    FLOOR_BUSY=$floor_busy EMU_BUSY=$emu_busy CORES=$CORES CHURN=$CHURN CHURN_NATIVE=$churn_native CHURN_EMU=$churn_emu \
    START_DYN="$start_dyn_native $start_dyn_emu" PYTHON="$python_native $python_emu" BASH_TRUE="$bash_native $bash_emu" \
    ESBUILD_JSON=$(json esbuild) ROUNDS=$ROUNDS python3 - "$native" "$floor" "$emu" "$strace_ns" "$qemu" "$start_native" "$start_emu" "$rss_native" "$rss_emu" "$N" <<'PY'
import sys
native, floor, emu, strace = (int(x) for x in sys.argv[1:5])
qemu = sys.argv[5]
start_native, start_emu = float(sys.argv[6]) * 1e3, float(sys.argv[7]) * 1e3
rss_native, rss_emu = int(sys.argv[8]), int(sys.argv[9])
n = sys.argv[10]
print(f"Per call: a static glibc loop of {n} getppid() calls, (time at N - time at 0) / N, hyperfine means")
print()
import os
emu_trap = int(os.environ["EMU_TRAP"])
print("| runner | ns per call | vs native | vs bare SUD floor |")
print("| --- | ---: | ---: | ---: |")
rows = [("native", native), ("bare SUD floor (bench/sud_floor.c)", floor), ("emu (the site rewritten)", emu),
        ("emu --no-rewrite (every call trapped)", emu_trap), ("strace -f", strace)]
if qemu:
    rows.append(("qemu-x86_64", int(qemu)))
for name, ns in rows:
    print(f"| {name} | {ns} | {ns / native:.1f}x | {ns / floor:.2f}x |")
print()
print(f"emu / native = {emu / native:.2f} (target: at most 1.3); emu --no-rewrite / floor = {emu_trap / floor:.2f} (target: at most 1.25)")
print()
trace, trace_trap = (int(x) for x in os.environ["EMU_TRACE"].split())
print("Traced (`--trace -o /dev/null`), same loop:")
print()
print("| runner | ns per call | strace -f / it |")
print("| --- | ---: | ---: |")
print(f"| emu --trace | {trace} | {strace / trace:.0f}x faster than strace |")
print(f"| emu --no-rewrite --trace | {trace_trap} | {strace / trace_trap:.0f}x faster than strace |")
print()
mmap_native, mmap_emu, mmap_trap = (int(x) for x in os.environ["MMAP"].split())
print("A call emu carries out itself: an mmap and munmap pair (bench/mmap_loop.c), ns per pair:")
print()
print("| runner | ns per pair | vs native |")
print("| --- | ---: | ---: |")
print(f"| native | {mmap_native} | 1.00x |")
print(f"| emu | {mmap_emu} | {mmap_emu / mmap_native:.2f}x |")
print(f"| emu --no-rewrite | {mmap_trap} | {mmap_trap / mmap_native:.2f}x |")
print()
hook_rust, hook_plugin = (int(x) for x in os.environ["HOOKS"].split())
print("A hook on every call (the double-stdout hook, which forwards getppid once), same loop:")
print()
print("| runner | ns per call | vs emu without a hook |")
print("| --- | ---: | ---: |")
print(f"| emu, no hook | {emu} | 1.00x |")
print(f"| Rust hook (emulator/examples/double_stdout.rs) | {hook_rust} | {hook_rust / emu:.2f}x |")
print(f"| C plugin (emu --hook, hooks/double_stdout.c) | {hook_plugin} | {hook_plugin / emu:.2f}x |")
print()
import json, os, statistics
cores = int(os.environ["CORES"])
floor_busy, emu_busy = int(os.environ["FLOOR_BUSY"]), int(os.environ["EMU_BUSY"])
print(f"The same loop on {cores} threads at once (one per core), wall time per call:")
print()
print("| runner | ns per call | vs bare SUD floor |")
print("| --- | ---: | ---: |")
print(f"| bare SUD floor, {cores} threads | {floor_busy} | 1.00x |")
print(f"| emu, {cores} threads | {emu_busy} | {emu_busy / floor_busy:.2f}x |")
print()
print(f"emu / floor with {cores} busy threads = {emu_busy / floor_busy:.2f} (target: at most 1.25)")
print()
churn = int(os.environ["CHURN"])
churn_native, churn_emu = (float(os.environ[k]) / churn * 1e6 for k in ("CHURN_NATIVE", "CHURN_EMU"))
print(f"| create and join a thread ({churn} one after another, bench/thread_churn.c) | us per thread |")
print("| --- | ---: |")
print(f"| native | {churn_native:.1f} |")
print(f"| emu | {churn_emu:.1f} ({churn_emu / churn_native:.2f}x) |")
print()
runs = json.load(open(os.environ["ESBUILD_JSON"]))["results"]
bundle_native, bundle_emu, bundle_trap = (statistics.median(r["times"]) * 1e3 for r in runs)
print(f"esbuild {os.path.basename(os.path.dirname(os.path.dirname(runs[0]['command'].split()[0])))} bundling three.js "
      f"(--bundle --minify --sourcemap), median of {len(runs[0]['times'])} runs in {os.environ['ROUNDS']} alternating hyperfine runs:")
print()
print("| runner | ms |")
print("| --- | ---: |")
print(f"| native | {bundle_native:.1f} |")
print(f"| emu | {bundle_emu:.1f} |")
print(f"| emu --no-rewrite | {bundle_trap:.1f} |")
print(f"| emu / native | {bundle_emu / bundle_native:.2f} (target: at most 1.03); --no-rewrite: {bundle_trap / bundle_native:.2f} |")
print()
go_linux, go_freebsd = int(os.environ["GO_LINUX"]), int(os.environ["GO_FREEBSD"])
print("The FreeBSD personality: a Go loop of getppid() calls (bench/go/getppid), built for each ABI, under emu:")
print()
print("| build | ns per call under emu |")
print("| --- | ---: |")
go_linux_trap, go_freebsd_trap = (int(x) for x in os.environ["GO_TRAP"].split())
print(f"| GOOS=linux | {go_linux} (--no-rewrite: {go_linux_trap}) |")
print(f"| GOOS=freebsd | {go_freebsd} ({go_freebsd / go_linux:.2f}x; --no-rewrite: {go_freebsd_trap}, {go_freebsd_trap / go_linux_trap:.2f}x; target: at most 1.10) |")
print()
clock_linux, clock_freebsd, clock_freebsd_trap = (int(x) for x in os.environ["CLOCK"].split())
print("A clock read, time.Now() (bench/go/clock): the Linux build reads the vDSO; the FreeBSD build makes a clock_gettime call, "
      "which a rewritten site's entry answers from the host's vDSO:")
print()
print("| build | ns per read |")
print("| --- | ---: |")
print(f"| GOOS=linux, native | {clock_linux} |")
print(f"| GOOS=freebsd, emu | {clock_freebsd} ({clock_freebsd / clock_linux:.2f}x; --no-rewrite: {clock_freebsd_trap}) |")
print()
runs = json.load(open(os.environ["ESBUILD_FREEBSD_JSON"]))["results"]
linux_native, freebsd_emu, freebsd_trap = (statistics.median(r["times"]) * 1e3 for r in runs)
print(f"esbuild bundling three.js (--bundle --minify), median of {len(runs[0]['times'])} runs in {os.environ['ROUNDS']} alternating hyperfine runs:")
print()
print("| runner | ms |")
print("| --- | ---: |")
print(f"| Linux release, native | {linux_native:.1f} |")
print(f"| FreeBSD release, emu | {freebsd_emu:.1f} |")
print(f"| FreeBSD release, emu --no-rewrite | {freebsd_trap:.1f} |")
print(f"| FreeBSD under emu / Linux native | {freebsd_emu / linux_native:.2f} (target: at most 1.03); --no-rewrite: {freebsd_trap / linux_native:.2f} |")
print()
print("| start-up of a static hello world | ms |")
print("| --- | ---: |")
print(f"| native | {start_native:.2f} |")
print(f"| emu | {start_emu:.2f} |")
print(f"| emu - native | {start_emu - start_native:.2f} (target: at most 3) |")
print()
dyn_native, dyn_emu = (float(x) * 1e3 for x in os.environ["START_DYN"].split())
print("| start-up of a dynamically linked hello world | ms |")
print("| --- | ---: |")
print(f"| native | {dyn_native:.2f} |")
print(f"| emu | {dyn_emu:.2f} |")
print(f"| emu - native | {dyn_emu - dyn_native:.2f} (target: at most 3) |")
print()
print("| doing nothing (hyperfine means) | native ms | emu ms | emu / native |")
print("| --- | ---: | ---: | ---: |")
for name, key in (("python3 -c pass", "PYTHON"), ("bash -c true", "BASH_TRUE")):
    a, b = (float(x) * 1e3 for x in os.environ[key].split())
    print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
print()
print("| peak RSS of a static hello world | KiB |")
print("| --- | ---: |")
print(f"| native | {rss_native} |")
print(f"| emu | {rss_emu} |")
print(f"| emu - native | {rss_emu - rss_native} (target: at most 4096) |")
PY
