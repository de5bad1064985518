#!/usr/bin/env bash
# The Lua benchmark: events per second delivered to a Lua handler
# (oa.on("bench.*", ...), which adds up ev.n) and to a C subscriber doing the
# same work (jansson decode, add up n), on the same host bus in the same
# process, C and Lua runs alternating; the median of several runs of each
# (with min and max) and the ratio Lua/C.
#
#   bench/lua/run.sh [BUILD_DIR]        (default: build)
#
# Knobs (environment):
#   OA_BENCH_RUNS=5               runs of each kind (at least 5 for a median
#                                 worth printing; fewer is allowed for a quick look)
#   OA_BENCH_LUA_EVENTS=500000    events per run
#   OA_BENCH_LUA_CAPACITY=8192    bus capacity, and events per published batch
#   TMPDIR                        where the host's data directory goes
#
# Exit status: 0 when every run succeeded (no event dropped, every sum equal
# to the number of events sent), 1 otherwise, 2 on a usage error.
set -euo pipefail

BENCH_ROW_FMT='%-50s %12s %12s %12s  %s'
# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_args "$@"
BENCH=$BUILD/bench/oa_bench_lua
bench_need "$BENCH"

RUNS=$(bench_knob OA_BENCH_RUNS 5)
EVENTS=$(bench_knob OA_BENCH_LUA_EVENTS 500000)
CAPACITY=$(bench_knob OA_BENCH_LUA_CAPACITY 8192)

bench_workdir lua

# ratio A B: A / B to three decimals ("-" when either is missing).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || b + 0 == 0) { print "-"; exit }
        printf("%.3f\n", a / b)
    }'
}

# ---- conditions ---------------------------------------------------------------

bench_conditions_head "OpenAce Lua benchmark"
echo "libraries:   Lua $(modversion lua5.4), jansson $(modversion jansson), libuv $(modversion libuv)"
echo "data dir:    under $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }') file system)"
echo "runs:        $RUNS per kind, alternating; figures are medians on a shared, noisy machine"
bench_conditions_warnings "release speed"

# ---- the runs -------------------------------------------------------------------

echo
echo "== Event delivery: Lua handler vs C subscriber, one host, one bus =="
echo "command: $BENCH --data <tmp> --events $EVENTS --runs $RUNS --capacity $CAPACITY"
echo "method:  oa_host_open (engine=1, fresh data dir, no plugins, bus capacity $CAPACITY), oa_lua_new;"
echo "         per round, one run of each kind in this order, only that subscriber on bench.*:"
echo "           c     C subscriber: json_loadb the payload, add up n"
echo "           lua   oa_lua_load of: local n = 0; oa.on(\"bench.*\", function(topic, ev) n = n + ev.n end)"
echo "           bare  C subscriber that only counts (the bus's own cost, for reference)"
echo "         the loop thread publishes $EVENTS events (bench.event, {\"n\":1}) in batches of"
echo "         $CAPACITY and runs the loop until each batch is delivered; uv_hrtime around all of"
echo "         it (publish + delivery) and around delivery alone, and the loop thread's CPU time"
echo "         (CLOCK_THREAD_CPUTIME_ID, less disturbed by a busy machine); one untimed warm-up round."
echo "         Every run checks: the sum equals the events sent, nothing dropped, the script ran"
echo "         without error (and once per event)."
echo "ratio:   Lua/C = Lua events/s divided by C events/s (below 1: Lua is slower)"
mkdir -p "$WORK/data"
rc=0
"$BENCH" --data "$WORK/data" --events "$EVENTS" --runs "$RUNS" --capacity "$CAPACITY" \
    >"$WORK/out" || rc=$?
sed 's/^/  /' "$WORK/out"
if [ "$rc" != 0 ]; then
    fail "oa_bench_lua exited with status $rc (the reason is above)"
fi

for k in c lua bare; do
    for m in rate crate drate; do
        : >"$WORK/$k.$m"
    done
done
: >"$WORK/ratio"
NRUNS=0
DROPPED=-
c_rate=-
while read -r line; do
    case "$line" in
        run=*) ;;
        total\ *)
            DROPPED=$(($(kv "$line" dropped) + $(kv "$line" refused)))
            continue
            ;;
        *) continue ;;
    esac
    k=$(kv "$line" kind)
    kv "$line" events_per_s >>"$WORK/$k.rate"
    kv "$line" cpu_events_per_s >>"$WORK/$k.crate"
    kv "$line" deliver_events_per_s >>"$WORK/$k.drate"
    if [ "$(kv "$line" sum)" != "$EVENTS" ]; then
        fail "run $(kv "$line" run) ($k): sum $(kv "$line" sum), not $EVENTS"
    fi
    case "$k" in
        c)
            c_rate=$(kv "$line" events_per_s)
            NRUNS=$((NRUNS + 1))
            ;;
        lua) ratio "$(kv "$line" events_per_s)" "$c_rate" >>"$WORK/ratio" ;;
    esac
done <"$WORK/out"
if [ "$NRUNS" != "$RUNS" ]; then
    fail "$NRUNS of $RUNS rounds completed"
fi
if [ "$DROPPED" != 0 ]; then
    fail "$DROPPED events dropped or refused by the bus (or no total was printed)"
fi

# ratio_row LABEL LUA_FILE C_FILE: the ratio of the two medians, printed and
# remembered for the summary.
ratio_row() {
    local label=$1 l c r
    l=$(stats '%.0f' <"$2" | cut -d' ' -f1)
    c=$(stats '%.0f' <"$3" | cut -d' ' -f1)
    r=$(ratio "$l" "$c")
    echo "  => $label: $r"
    summary_row "$label" "$r" - - x
}

echo
echo "-- publish + delivery, wall clock (uv_hrtime)"
report "C subscriber (decode, sum n)" events/s "$WORK/c.rate" '%.0f'
report "Lua handler (oa.on, sum ev.n)" events/s "$WORK/lua.rate" '%.0f'
ratio_row "ratio Lua/C (of the medians)" "$WORK/lua.rate" "$WORK/c.rate"
report "ratio Lua/C, paired per round" x "$WORK/ratio" '%.3f'
echo "-- publish + delivery, per CPU second of the loop thread"
report "C subscriber, per CPU second" events/s "$WORK/c.crate" '%.0f'
report "Lua handler, per CPU second" events/s "$WORK/lua.crate" '%.0f'
ratio_row "ratio Lua/C, CPU time (of the medians)" "$WORK/lua.crate" "$WORK/c.crate"
echo "-- delivery alone (wall clock inside uv_run)"
report "C subscriber, delivery alone" events/s "$WORK/c.drate" '%.0f'
report "Lua handler, delivery alone" events/s "$WORK/lua.drate" '%.0f'
ratio_row "ratio Lua/C, delivery alone (of the medians)" "$WORK/lua.drate" "$WORK/c.drate"
echo "-- reference: a C subscriber that only counts (the bus's own cost)"
report "bare C subscriber, publish + delivery" events/s "$WORK/bare.rate" '%.0f'
report "bare C subscriber, delivery alone" events/s "$WORK/bare.drate" '%.0f'
summary_row "events dropped or refused, all runs" "$DROPPED" - - events

# ---- summary ------------------------------------------------------------------------

echo
echo "== Summary: median of $RUNS runs (min, max), $EVENTS events a run, $(nproc) CPU(s), ${BUILD_TYPE:-?} build =="
bench_summary_table
echo "Load average at end: $(cut -d' ' -f1-3 /proc/loadavg)."
if [ "$STATUS" != 0 ]; then
    echo "Some runs FAILED; see the FAILED lines (stderr)."
else
    echo "Every run's sum equalled the $EVENTS events sent, and none was dropped."
fi
exit "$STATUS"
