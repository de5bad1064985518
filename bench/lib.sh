# shellcheck shell=bash
# Shared by the benchmark scripts (bench/*/run.sh), which source it after
# `set -euo pipefail`:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#   bench_args "$@"                 # --help, usage; sets BUILD
#   RUNS=$(bench_knob OA_BENCH_RUNS 5) # a positive number, or exit 2
#   bench_workdir NAME              # sets WORK, removed at exit
#   bench_conditions_head TITLE     # date, machine, memory, build lines
#   ... the script's own condition lines ...
#   bench_conditions_warnings WHAT  # sanitizer build, fewer than 5 runs
#   ... measurements: fail, kv, stats, report ...
#   bench_summary_table             # the SUMMARY rows under a header
#   exit "$STATUS"
#
# BENCH_ROW_FMT, the printf format of a summary row (label, median, min, max,
# unit), may be set before or after sourcing this file.

BENCH_ROW_FMT=${BENCH_ROW_FMT:-'%-46s %14s %14s %14s  %s'}

# bench_args ARGS...: handles -h/--help (prints the script's leading comment)
# and a usage error (exit 2); sets BUILD to the absolute build directory
# (default: build), exit 2 when it does not exist.
bench_args() {
    if [ $# -gt 1 ]; then
        echo "usage: $0 [BUILD_DIR]" >&2
        exit 2
    fi
    case "${1:-}" in
        -h | --help)
            awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"
            exit 0
            ;;
    esac
    BUILD=$(cd "${1:-build}" 2>/dev/null && pwd) || {
        echo "$0: build directory '${1:-build}' not found; build first (make build)" >&2
        exit 2
    }
}

# bench_need FILE...: exit 2 unless each FILE is an executable of the build.
bench_need() {
    local f
    for f in "$@"; do
        if [ ! -x "$f" ]; then
            echo "$0: $f is missing; build first: cmake --build $BUILD" >&2
            exit 2
        fi
    done
}

# bench_need_plugins NAME...: exit 2 unless the build has plugins/NAME.so
# for each NAME.
bench_need_plugins() {
    local so
    for so in "$@"; do
        if [ ! -f "$BUILD/plugins/$so.so" ]; then
            echo "$0: $BUILD/plugins/$so.so is missing; build first: cmake --build $BUILD" >&2
            exit 2
        fi
    done
}

# bench_need_ffmpeg: exit 2 unless ffmpeg and ffprobe are installed.
bench_need_ffmpeg() {
    local tool
    for tool in ffmpeg ffprobe; do
        if ! command -v "$tool" >/dev/null; then
            echo "$0: $tool is not installed (apt-get install ffmpeg; scripts/deps.sh test installs it)" >&2
            exit 2
        fi
    done
}

# check_count NAME VALUE: exit 2 unless VALUE is a positive whole number.
check_count() {
    case "$2" in
        '' | *[!0-9]* | 0) echo "$0: $1 must be a positive number, not '$2'" >&2; exit 2 ;;
    esac
}

# bench_knob ENVNAME DEFAULT: prints the environment variable ENVNAME, or
# DEFAULT when it is unset or empty; exit 2 unless that is a positive whole
# number. Used as RUNS=$(bench_knob OA_BENCH_RUNS 5), which `set -e` ends.
bench_knob() {
    local v=${!1:-$2}
    check_count "$1" "$v"
    echo "$v"
}

# bench_workdir NAME: makes WORK, a fresh directory under TMPDIR, and removes
# it at exit (after calling bench_on_exit, when the script defines one).
bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/oa-bench-$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317  # reached through the trap
bench_cleanup() {
    if declare -F bench_on_exit >/dev/null; then
        bench_on_exit
    fi
    rm -rf "$WORK"
}

STATUS=0
# fail MESSAGE...: reports a failed run on stderr; the script will exit 1.
# shellcheck disable=SC2034  # STATUS is read by the scripts
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

# summary_row LABEL MEDIAN MIN MAX UNIT: remembers one row for the summary.
SUMMARY=()
summary_row() {
    # shellcheck disable=SC2059  # the format is ours
    SUMMARY+=("$(printf "$BENCH_ROW_FMT" "$@")")
}

# report LABEL UNIT FILE FORMAT: prints the median line of one measurement
# and remembers it for the summary.
report() {
    local label=$1 unit=$2 file=$3 fmt=$4 med min max n
    n=$(wc -l <"$file")
    read -r med min max < <(stats "$fmt" <"$file")
    printf '  => %s: median %s %s (min %s, max %s) over %s runs\n' "$label" "$med" "$unit" \
        "$min" "$max" "$n"
    summary_row "$label" "$med" "$min" "$max" "$unit"
}

# bench_summary_table: the column header, then every summary row.
bench_summary_table() {
    local row
    # shellcheck disable=SC2059  # the format is ours
    printf "$BENCH_ROW_FMT\n" measurement median min max unit
    for row in "${SUMMARY[@]}"; do
        echo "$row"
    done
}

# cache_val NAME: NAME's value in the build's CMakeCache.txt (empty if none).
cache_val() {
    if [ -r "$BUILD/CMakeCache.txt" ]; then
        sed -n "s/^$1:[A-Z]*=//p" "$BUILD/CMakeCache.txt" | head -n 1
    fi
}

# modversion PKG: PKG's version from pkg-config, or "?".
modversion() {
    pkg-config --modversion "$1" 2>/dev/null || echo '?'
}

# bench_conditions_head TITLE: the title, then date, machine, memory, CPU
# governor and build lines; sets BUILD_TYPE, ASAN and UBSAN.
bench_conditions_head() {
    BUILD_TYPE=$(cache_val CMAKE_BUILD_TYPE)
    ASAN=$(cache_val OA_ASAN)
    UBSAN=$(cache_val OA_UBSAN)
    echo "== $1 =="
    echo "date:        $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "machine:     $(uname -srm); $(nproc) CPU(s): $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "memory:      $(awk '/^MemTotal/ { printf("%d MiB", $2 / 1024) }' /proc/meminfo) total; load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -r /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor ]; then
        echo "governor:    $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor)"
    fi
    echo "build:       $BUILD (CMAKE_BUILD_TYPE=${BUILD_TYPE:-?}, OA_ASAN=${ASAN:-?}, OA_UBSAN=${UBSAN:-?})"
}

# bench_conditions_warnings WHAT: warns when the build has a sanitizer (the
# figures then say nothing about WHAT) or RUNS is below 5.
bench_conditions_warnings() {
    if [ "$ASAN" = ON ] || [ "$UBSAN" = ON ]; then
        echo "WARNING: sanitizer build; these figures say nothing about $1"
    fi
    if [ "$RUNS" -lt 5 ]; then
        echo "WARNING: fewer than 5 runs; the medians are rough"
    fi
}
