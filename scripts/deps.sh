#!/usr/bin/env bash
# Installs the Debian packages OpenAce needs to build, run and test, and only
# those that are missing. Safe to run again; does nothing when all are there.
# Usage: scripts/deps.sh [build|test]   (default: build)
set -euo pipefail

want=(build-essential cmake pkg-config
      libuv1-dev libltdl-dev libsqlite3-dev liblua5.4-dev libssl-dev
      libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev
      libavformat-dev libavcodec-dev libavutil-dev
      libavdevice-dev libavfilter-dev libswscale-dev libswresample-dev)
if [ "${1:-build}" = test ]; then
  want+=(libcmocka-dev python3 procps curl chromium
         python3-libtorrent aria2 opentracker ffmpeg)
  # Node runs the browser test; a NodeSource nodejs already carries npm and
  # conflicts with Debian's npm package, so each is added only when missing.
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
