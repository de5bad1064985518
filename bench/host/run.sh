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

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_args "$@"
OPENACE=$BUILD/bin/openace
BENCH=$BUILD/bench/oa_bench_host
PLUGINS=$BUILD/plugins
bench_need "$OPENACE" "$BENCH"

RUNS=$(bench_knob OA_BENCH_RUNS 5)
ITER=$(bench_knob OA_BENCH_ENABLE_ITER 1000)
EVENTS=$(bench_knob OA_BENCH_BUS_EVENTS 1000000)
THREADS=$(bench_knob OA_BENCH_BUS_THREADS 4)
SETTLE=${OA_BENCH_SETTLE:-1}

ENGINE_PID=
# bench_on_exit: called by lib.sh's cleanup at exit, before WORK is removed.
# shellcheck disable=SC2317  # reached through the trap
bench_on_exit() {
    if [ -n "$ENGINE_PID" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then
        kill -KILL "$ENGINE_PID" 2>/dev/null || true
    fi
}
bench_workdir host

# ---- conditions ---------------------------------------------------------------

NPLUGINS=$(find "$PLUGINS" -maxdepth 1 -name '*.so' 2>/dev/null | wc -l)

bench_conditions_head "OpenAce host benchmark"
echo "engine:      $("$OPENACE" --version); libuv $(modversion libuv), SQLite $(modversion sqlite3)"
echo "plugins:     $NPLUGINS built in $PLUGINS: $(find "$PLUGINS" -maxdepth 1 -name '*.so' -printf '%f ' 2>/dev/null)"
echo "data dirs:   under $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }') file system)"
echo "runs:        $RUNS per measurement; figures are medians on a shared, noisy machine"
bench_conditions_warnings "release speed or memory"

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
summary_row "bus events dropped, all runs" "$DROPPED" - - events

# ---- summary ------------------------------------------------------------------------

echo
echo "== Summary: median of $RUNS runs (min, max), $(nproc) CPU(s), ${BUILD_TYPE:-?} build =="
bench_summary_table
echo "No foreign peer runs the same work, so these are absolute figures, not ratios."
if [ "$STATUS" != 0 ]; then
    echo "Some runs FAILED; see the FAILED lines (stderr)."
fi
exit "$STATUS"
