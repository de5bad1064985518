#!/usr/bin/env bash
# The host benchmark: idle memory of the engine, plugin enable latency and
# event bus throughput, each the median of several runs (with min and max).
#
#   bench/host/run.sh [BUILD_DIR]        (default: build; `make bench` calls it)
#
# Knobs (environment):
#   OA_BENCH_RUNS=5            runs per measurement (at least 5 for a median
#                              worth printing; fewer is allowed for a quick look)
#   OA_BENCH_ENABLE_ITER=1000  disable+enable cycles per enable run
#   OA_BENCH_BUS_EVENTS=1000000 events per bus run
#   OA_BENCH_BUS_THREADS=4     worker-thread posters in the threaded bus run
#   OA_BENCH_SETTLE=1          seconds the engine idles before its RSS is read
#   TMPDIR                     where data directories go (SQLite lives there)
#
# Exit status: 0 when every run succeeded and no event was dropped, 1
# otherwise, 2 on a usage error. There is no foreign peer to compare the host
# with, so this benchmark prints absolute figures, not ratios.
set -euo pipefail

usage() {
    echo "usage: $0 [BUILD_DIR]" >&2
    exit 2
}
[ $# -le 1 ] || usage
case "${1:-}" in -h | --help) sed -n '2,18p' "$0"; exit 0 ;; esac

BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || {
    echo "$0: build directory '${1:-build}' not found; build first (make build)" >&2
    exit 2
}
OPENACE=$BUILD/bin/openace
BENCH=$BUILD/bench/oa_bench_host
PLUGINS=$BUILD/plugins
for f in "$OPENACE" "$BENCH"; do
    if [ ! -x "$f" ]; then
        echo "$0: $f is missing; build first: cmake --build $BUILD" >&2
        exit 2
    fi
done

RUNS=${OA_BENCH_RUNS:-5}
ITER=${OA_BENCH_ENABLE_ITER:-1000}
EVENTS=${OA_BENCH_BUS_EVENTS:-1000000}
THREADS=${OA_BENCH_BUS_THREADS:-4}
SETTLE=${OA_BENCH_SETTLE:-1}
check_count() {
    case "$2" in
        '' | *[!0-9]* | 0) echo "$0: $1 must be a positive number, not '$2'" >&2; exit 2 ;;
    esac
}
check_count OA_BENCH_RUNS "$RUNS"
check_count OA_BENCH_ENABLE_ITER "$ITER"
check_count OA_BENCH_BUS_EVENTS "$EVENTS"
check_count OA_BENCH_BUS_THREADS "$THREADS"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oa-bench-host.XXXXXX")
ENGINE_PID=
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
    if [ -n "$ENGINE_PID" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

STATUS=0
fail() {
    echo "FAILED: $*" >&2
    STATUS=1
}

# stats FORMAT: reads numbers, one a line, prints "median min max" in FORMAT
# (the median of an even count is the mean of the middle two).
stats() {
    sort -g | awk -v f="$1" '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "- - -"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf(f " " f " " f "\n", m, v[1], v[NR])
        }'
}

# kv LINE KEY: the value of KEY=value in LINE.
kv() {
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# report LABEL UNIT FILE FORMAT: prints the median line of one measurement
# and remembers it for the summary.
SUMMARY=()
report() {
    local label=$1 unit=$2 file=$3 fmt=$4 med min max n
    n=$(wc -l <"$file")
    read -r med min max < <(stats "$fmt" <"$file")
    printf '  => %s: median %s %s (min %s, max %s) over %s runs\n' "$label" "$med" "$unit" \
        "$min" "$max" "$n"
    SUMMARY+=("$(printf '%-46s %14s %14s %14s  %s' "$label" "$med" "$min" "$max" "$unit")")
}

# ---- conditions ---------------------------------------------------------------

cache_val() {
    if [ -r "$BUILD/CMakeCache.txt" ]; then
        sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" | head -n 1
    fi
}
BUILD_TYPE=$(cache_val CMAKE_BUILD_TYPE)
ASAN=$(cache_val OA_ASAN)
UBSAN=$(cache_val OA_UBSAN)
NPLUGINS=$(find "$PLUGINS" -maxdepth 1 -name '*.so' 2>/dev/null | wc -l)

echo "== OpenAce host benchmark =="
echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "machine:     $(uname -srm); $(nproc) CPU(s): $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "memory:      $(awk '/^MemTotal/ { printf("%d MiB", $2 / 1024) }' /proc/meminfo) total; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -r /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor ]; then
    echo "governor:    $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor)"
fi
echo "build:       $BUILD (CMAKE_BUILD_TYPE=${BUILD_TYPE:-?}, OA_ASAN=${ASAN:-?}, OA_UBSAN=${UBSAN:-?})"
echo "engine:      $("$OPENACE" --version); libuv $(pkg-config --modversion libuv 2>/dev/null || echo '?'), SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo '?')"
echo "plugins:     $NPLUGINS built in $PLUGINS: $(find "$PLUGINS" -maxdepth 1 -name '*.so' -printf '%f ' 2>/dev/null)"
echo "data dirs:   under $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }') file system)"
echo "runs:        $RUNS per measurement; figures are medians on a shared, noisy machine"
if [ "$ASAN" = ON ] || [ "$UBSAN" = ON ]; then
    echo "WARNING: sanitizer build; these figures say nothing about release speed or memory"
fi
if [ "$RUNS" -lt 5 ]; then
    echo "WARNING: fewer than 5 runs; the medians are rough"
fi

# ---- 1. idle resident memory of the engine ----------------------------------

echo
echo "== 1. Idle resident memory of the engine with all built plugins =="
echo "command: $OPENACE --data <tmp> --plugins $PLUGINS --http 127.0.0.1:<free> --p2p-port <free>"
echo "method:  wait for the 'running' log line, idle ${SETTLE} s, read VmRSS and VmHWM from /proc/<pid>/status, SIGTERM"
: >"$WORK/rss"
: >"$WORK/hwm"
for i in $(seq 1 "$RUNS"); do
    dir=$WORK/rss.$i
    mkdir -p "$dir"
    : >"$dir/log" # exists before the engine opens it, for the grep below
    if ! read -r http p2p < <("$BENCH" ports); then
        fail "run $i: no free ports"
        continue
    fi
    "$OPENACE" --data "$dir/data" --plugins "$PLUGINS" --http "127.0.0.1:$http" \
        --p2p-port "$p2p" >"$dir/out" 2>"$dir/log" &
    ENGINE_PID=$!
    up=0
    for _ in $(seq 1 150); do
        if grep -q ') running: ' "$dir/log"; then
            up=1
            break
        fi
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ "$up" != 1 ]; then
        fail "run $i: the engine did not log that it runs within 15 s; its log:"
        sed 's/^/    /' "$dir/log" >&2
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
        wait "$ENGINE_PID" 2>/dev/null || true
        ENGINE_PID=
        continue
    fi
    sleep "$SETTLE"
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$ENGINE_PID/status")
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$ENGINE_PID/status")
    running=$(sed -n 's/.*) running: \([0-9]*\) plugin.*/\1/p' "$dir/log" | head -n 1)
    listening='?'
    if command -v ss >/dev/null; then
        listening=$(ss -Hltun -p | grep -c "pid=$ENGINE_PID," || true)
    fi
    kill -TERM "$ENGINE_PID"
    rc=0
    wait "$ENGINE_PID" || rc=$?
    ENGINE_PID=
    printf '  run %d: VmRSS %s KiB, VmHWM %s KiB, %s of %s plugin(s) running, %s listening socket(s), exit %s (ports %s, %s)\n' \
        "$i" "$rss" "$hwm" "$running" "$NPLUGINS" "$listening" "$rc" "$http" "$p2p"
    if [ "$rc" != 0 ]; then
        fail "run $i: the engine exited with status $rc after SIGTERM"
    fi
    if [ "$running" != "$NPLUGINS" ]; then
        fail "run $i: $running of $NPLUGINS plugins running; see the engine's log:"
        grep -E 'WARN|ERROR' "$dir/log" | sed 's/^/    /' >&2 || true
    fi
    echo "$rss" >>"$WORK/rss"
    echo "$hwm" >>"$WORK/hwm"
done
report "idle RSS (VmRSS), $NPLUGINS plugin(s) running" KiB "$WORK/rss" '%.0f'
report "peak RSS (VmHWM) at that point" KiB "$WORK/hwm" '%.0f'

# ---- 2. plugin enable latency -------------------------------------------------

echo
echo "== 2. Plugin enable latency (example-echo) =="
echo "command: $BENCH enable --plugins $PLUGINS --data <tmp> --iterations $ITER"
echo "method:  oa_host_open (engine=1, fresh data dir), oa_registry_start_all, 20 warm-up cycles, then"
echo "         $ITER x (oa_registry_disable; loop; uv_hrtime around oa_registry_enable; loop); per run the"
echo "         median and p95 of the $ITER enables; below, the median of those over the runs"
: >"$WORK/en_med"
: >"$WORK/en_p95"
: >"$WORK/dis_med"
for i in $(seq 1 "$RUNS"); do
    line=$("$BENCH" enable --plugins "$PLUGINS" --data "$WORK/enable.$i" --iterations "$ITER") || {
        fail "enable run $i"
        continue
    }
    echo "  run $i: $line"
    kv "$line" median_us >>"$WORK/en_med"
    kv "$line" p95_us >>"$WORK/en_p95"
    kv "$line" disable_median_us >>"$WORK/dis_med"
done
report "plugin enable, median of $ITER" us "$WORK/en_med" '%.1f'
report "plugin enable, p95 of $ITER" us "$WORK/en_p95" '%.1f'
report "plugin disable, median of $ITER (for reference)" us "$WORK/dis_med" '%.1f'

# ---- 3. event bus throughput -----------------------------------------------------

echo
echo "== 3. Event bus throughput to one C subscriber =="
echo "method:  publish $EVENTS events of topic bench.event, payload {\"n\":123}, to a subscriber on"
echo "         bench.*; time publish + delivery with uv_hrtime; events/s = delivered / time"
DROPPED=0
bus_runs() {
    local label=$1 file=$2
    shift 2
    echo "command: $BENCH bus $*"
    : >"$file"
    for i in $(seq 1 "$RUNS"); do
        line=$("$BENCH" bus "$@") || {
            fail "bus run $i ($label)"
            continue
        }
        echo "  run $i: $line"
        kv "$line" events_per_s >>"$file"
        d=$(kv "$line" dropped)
        DROPPED=$((DROPPED + d))
        if [ "$d" != 0 ]; then
            fail "bus run $i ($label): $d events dropped although the capacity suffices"
        fi
    done
    report "$label" events/s "$file" '%.0f'
}
echo "-- the loop thread publishes in batches of the bus's default capacity (8192), running the loop after each"
bus_runs "bus, loop-thread publisher" "$WORK/bus0" --events "$EVENTS" --threads 0
echo "-- $THREADS worker threads publish $EVENTS/$THREADS each while the loop delivers; capacity $EVENTS"
bus_runs "bus, $THREADS worker-thread publishers" "$WORK/busT" --events "$EVENTS" --threads "$THREADS"
SUMMARY+=("$(printf '%-46s %14s %14s %14s  %s' "bus events dropped, all runs" "$DROPPED" - - events)")

# ---- summary ------------------------------------------------------------------------

echo
echo "== Summary: median of $RUNS runs (min, max), $(nproc) CPU(s), ${BUILD_TYPE:-?} build =="
printf '%-46s %14s %14s %14s  %s\n' measurement median min max unit
for row in "${SUMMARY[@]}"; do
    echo "$row"
done
echo "No foreign peer runs the same work, so these are absolute figures, not ratios."
if [ "$STATUS" != 0 ]; then
    echo "Some runs FAILED; see the FAILED lines (stderr)."
fi
exit "$STATUS"
