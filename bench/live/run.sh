#!/usr/bin/env bash
# Live broadcasting: 1 source and N viewer engines on loopback, viewers 1, 2
# and 3 hops away (pex off, bootstrap_peers only). Prints the median and p95
# latency from chunk creation at the source to the chunk verified at the
# viewers of each hop, the source's upload in multiples of the stream's
# bitrate and the resident memory (VmRSS) of the engines, with the targets
# (p95 under 2 s at 3 hops, source upload under 1.5x the bitrate) marked
# PASS or MISS. A report, not a test: it exits 0 even on a MISS.
#
#   bench/live/run.sh [BUILD_DIR]   (default: build; `make bench` calls it)
#
# Knobs (environment):
#   N=10             viewer engines (split in three hops)
#   SECONDS_RUN=60   seconds measured
#   WARMUP=70        seconds every viewer plays before that (the swarm's latency
#                    figures cover a viewer's last 64 chunks: the ones it
#                    fetched from behind the edge when it joined must be gone)
#   SOURCE=ts        ts: a looping H.264 + AAC MPEG-TS (1 Mbit/s video, made
#                    once by ffmpeg); lavfi: testsrc2 + sine encoded by the
#                    segmenter
#   TMPDIR           where the engines' data directories go
#
# Exit status: 0 when the run completed (whatever the figures), 1 when an
# engine or a player broke, 2 on a usage error or a missing build output or
# tool.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_args "$@"
bench_need "$BUILD/bin/openace"
bench_need_plugins transport-tcp swarm segmenter streamer live
bench_need_ffmpeg

N=$(bench_knob N 10)
SECONDS_RUN=$(bench_knob SECONDS_RUN 60)
WARMUP=$(bench_knob WARMUP 70)
SOURCE=${SOURCE:-ts}
case "$SOURCE" in
    ts | lavfi) ;;
    *) echo "$0: SOURCE must be ts or lavfi, not '$SOURCE'" >&2; exit 2 ;;
esac
bench_workdir live

bench_conditions_head "OpenAce live broadcasting: latency per hop, source upload, memory"
echo "engine:      $("$BUILD/bin/openace" --version)"
echo "engines:     1 source + $N viewers (transport-tcp, swarm, segmenter, streamer, live) on 127.0.0.1"
echo "source:      $SOURCE, 1 s chunks; every viewer plays /ace/getstream?id=<content ID>"
echo "measured:    $SECONDS_RUN s after a $WARMUP s warm-up; data dirs under $WORK"
if [ "$ASAN" = ON ] || [ "$UBSAN" = ON ]; then
    echo "WARNING: sanitizer build; these figures say nothing about live latency or memory"
fi
echo "runs:        one run; each latency figure is a median over viewers and samples"
echo

TMPDIR=$WORK python3 "$(dirname "${BASH_SOURCE[0]}")/live_bench.py" --build "$BUILD" \
    --viewers "$N" --seconds "$SECONDS_RUN" --warmup "$WARMUP" --source "$SOURCE" || STATUS=$?
case "$STATUS" in
    0 | 1) ;;
    *) STATUS=1 ;;
esac
exit "$STATUS"
