#!/usr/bin/env bash
# Startup: how soon playback starts. The median time from the HTTP request
# to the first stream byte (GET /ace/getstream) and to the first byte of the
# first HLS segment (GET /ace/manifest.m3u8, then the segment it names),
# for content seeded by a local libtorrent peer on 127.0.0.1 and fetched by
# a fresh engine; the same for python3-libtorrent's sequential download of
# the same content read through the file; and the ratios OpenAce/libtorrent.
#
#   bench/startup/run.sh [BUILD_DIR]   (default: build; `make bench` calls it)
#
# Knobs (environment):
#   RUNS=5          runs, each: one OpenAce getstream, one libtorrent, one
#                   OpenAce HLS (OA_BENCH_RUNS is read when RUNS is unset)
#   SECONDS_TS=60   length of the test video (media.make_ts)
#   MBIT=4          its video bit rate, Mbit/s (plus 128 kbit/s of audio)
#   PIECE_KIB=256   piece size of the torrent
#   SEG_SECONDS=2   the streamer's hls_segment_seconds, and the seconds of
#                   bytes libtorrent must have readable for its "segment"
#   SOURCE=infohash infohash: both sides start from the info-hash and fetch
#                   the metadata from the seeder; torrent: both get the
#                   .torrent (OpenAce through url=file://)
#   TMPDIR          where the content, the downloads and the engines' data go
#
# Exit status: 0 when every measurement completed, 1 otherwise, 2 on a
# usage error or a missing build output or tool. Times are never asserted.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR/..
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
bench_args "$@"
bench_need "$BUILD/bin/openace"
bench_need_plugins transport-tcp swarm segmenter streamer
bench_need_ffmpeg

RUNS=$(bench_knob RUNS "${OA_BENCH_RUNS:-5}")
SECONDS_TS=$(bench_knob SECONDS_TS 60)
MBIT=$(bench_knob MBIT 4)
PIECE_KIB=$(bench_knob PIECE_KIB 256)
SEG_SECONDS=${SEG_SECONDS:-2}
case "$SEG_SECONDS" in
    '' | *[!0-9.]* | *.*.* | .) echo "$0: SEG_SECONDS must be a positive number, not '$SEG_SECONDS'" >&2; exit 2 ;;
esac
SOURCE=${SOURCE:-infohash}
case "$SOURCE" in
    infohash | torrent) ;;
    *) echo "$0: SOURCE must be infohash or torrent, not '$SOURCE'" >&2; exit 2 ;;
esac

bench_workdir startup

bench_conditions_head "OpenAce playback startup against libtorrent"
echo "engine:      $("$BUILD/bin/openace" --version)"
echo "ffmpeg:      $(ffmpeg -version | head -n 1)"
echo "peers:       one libtorrent seeder; per run fresh OpenAce engines (transport-tcp, swarm,"
echo "             segmenter, streamer) and a fresh libtorrent leecher, all on 127.0.0.1"
echo "work:        $WORK ($(df -PT "$WORK" | awk 'NR == 2 { print $2 }'))"
echo "runs:        $RUNS, each OpenAce getstream, libtorrent, OpenAce HLS in turn; figures are medians on a shared, noisy machine"
bench_conditions_warnings "startup time"
echo

TMPDIR=$WORK python3 "$(dirname "${BASH_SOURCE[0]}")/startup_bench.py" --build "$BUILD" \
    --work "$WORK" --runs "$RUNS" --seconds "$SECONDS_TS" --mbit "$MBIT" \
    --piece-kib "$PIECE_KIB" --seg-seconds "$SEG_SECONDS" --source "$SOURCE" || STATUS=$?
case "$STATUS" in
    0 | 1 | 2) ;;
    77) echo "$0: python3-libtorrent is missing (scripts/deps.sh test installs it)" >&2; STATUS=2 ;;
    *) STATUS=1 ;;
esac
exit "$STATUS"
