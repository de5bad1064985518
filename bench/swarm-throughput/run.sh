#!/usr/bin/env bash
# Swarm throughput: OpenAce seeder -> OpenAce leecher against libtorrent
# seeder -> libtorrent leecher (python3-libtorrent, one process per side),
# on loopback, in the same run: MB/s and CPU seconds per GiB moved, their
# medians over the runs (with min and max) and the ratios OpenAce/libtorrent.
#
#   bench/swarm-throughput/run.sh [BUILD_DIR]   (default: build; `make bench` calls it)
#
# Knobs (environment):
#   SIZE_MB=512      size of the random file moved (on tmpfs); shrink for a quick run
#   RUNS=3           runs of each pair (OA_BENCH_RUNS is read when RUNS is unset)
#   PIECE_KIB=1024   piece size of the torrent
#   SHM=/dev/shm     the tmpfs for the content (needs about 3 x SIZE_MB free)
#   TMPDIR           where the engines' data directories go
#
# Exit status: 0 when every transfer completed with identical bytes, 1
# otherwise, 2 on a usage error or a missing build output or tool.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_args "$@"
bench_need "$BUILD/bin/openace"
for so in swarm transport-tcp; do
    if [ ! -f "$BUILD/plugins/$so.so" ]; then
        echo "$0: $BUILD/plugins/$so.so is missing; build first: cmake --build $BUILD" >&2
        exit 2
    fi
done

RUNS=$(bench_knob RUNS "${OA_BENCH_RUNS:-3}")
SIZE_MB=$(bench_knob SIZE_MB 512)
PIECE_KIB=$(bench_knob PIECE_KIB 1024)
SHM_ROOT=${SHM:-/dev/shm}
if [ ! -d "$SHM_ROOT" ] || [ ! -w "$SHM_ROOT" ]; then
    echo "$0: $SHM_ROOT is not a writable folder (set SHM to a tmpfs)" >&2
    exit 2
fi
need_kib=$((SIZE_MB * 1024 * 3))
free_kib=$(df -Pk "$SHM_ROOT" | awk 'NR == 2 { print $4 }')
if [ "$free_kib" -lt "$need_kib" ]; then
    echo "$0: $SHM_ROOT has $((free_kib / 1024)) MiB free, $((need_kib / 1024)) MiB needed; lower SIZE_MB" >&2
    exit 2
fi

SHM_DIR=
# bench_on_exit: called by lib.sh's cleanup at exit, before WORK is removed.
# shellcheck disable=SC2317  # reached through the trap
bench_on_exit() {
    if [ -n "$SHM_DIR" ]; then
        rm -rf "$SHM_DIR"
    fi
}
bench_workdir swarm
SHM_DIR=$(mktemp -d "$SHM_ROOT/oa-bench-swarm.XXXXXX")

bench_conditions_head "OpenAce swarm throughput against libtorrent"
echo "engine:      $("$BUILD/bin/openace" --version)"
echo "peers:       two engines with transport-tcp + swarm, and two libtorrent processes, on 127.0.0.1"
echo "tmpfs:       $SHM_DIR ($(df -PT "$SHM_DIR" | awk 'NR == 2 { print $2 }')); data dirs under $WORK"
echo "runs:        $RUNS of each pair, alternating; figures are medians on a shared, noisy machine"
bench_conditions_warnings "swarm speed"
echo

TMPDIR=$WORK python3 "$(dirname "${BASH_SOURCE[0]}")/swarm_bench.py" --build "$BUILD" \
    --shm "$SHM_DIR" --size-mb "$SIZE_MB" --runs "$RUNS" --piece-kib "$PIECE_KIB" || STATUS=$?
case "$STATUS" in
    0 | 1) ;;
    77) echo "$0: python3-libtorrent is missing (scripts/deps.sh test installs it)" >&2; STATUS=2 ;;
    *) STATUS=1 ;;
esac
exit "$STATUS"
