#!/usr/bin/env bash
# Beside `make run`: waits for the engine's admin API, starts the live demo
# broadcast once and prints where to watch it.
# Usage: scripts/live-demo.sh OPENACE DATA HTTP ENGINE_PID
# Arguments: the openace binary, the data folder, the HTTP address, the
# engine's pid. A temporary API token (made with `openace token create`,
# revoked at the end) calls the live plugin's commands. The demo's content
# ID is kept in <data>/.live-demo; once that file exists no demo is started
# again (stop or forget it in the admin UI as any other broadcast).
set -u
oa=$1 data=$2 http=$3 engine=$4
host=${http%:*} port=${http##*:}
case "$host" in 0.0.0.0 | '') host=127.0.0.1 ;; esac
source='lavfi:testsrc2=size=640x360:rate=25[out0];sine=frequency=440:sample_rate=48000[out1]'
token=
say() { printf '\n[make run] %s\n' "$*" >&2; }
alive() { kill -0 "$engine" 2>/dev/null; }
# req METHOD PATH [BODY]: one HTTP/1.0 request to the engine; prints the
# status code, a newline and the body.
req() {
    local body=${3:-} reply
    exec 3<>"/dev/tcp/$host/$port" || return 1
    printf '%s %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
        "$1" "$2" "$http" "$token" "${#body}" "$body" >&3
    reply=$(cat <&3)
    exec 3<&-
    printf '%s\n%s\n' "$(printf '%s' "$reply" | head -n 1 | cut -d' ' -f2)" \
        "$(printf '%s' "$reply" | sed '1,/^\r*$/d')"
}
revoke() { "$oa" --data "$data" token revoke make-run >/dev/null 2>&1 || true; }
trap revoke EXIT
for _ in $(seq 120); do
    alive || exit 0
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
    sleep 0.5
done
revoke
for _ in $(seq 60); do
    alive || exit 0
    token=$("$oa" --data "$data" token create admin make-run 2>/dev/null) && break
    sleep 0.5
done
[ -n "$token" ] || { say "no API token could be made: the live demo is not started"; exit 0; }
ok=
for _ in $(seq 60); do
    alive || exit 0
    r=$(req POST /api/plugins/live/commands/list '{}') || true
    if [ "${r%%$'\n'*}" = 200 ]; then ok=1; break; fi
    sleep 0.5
done
[ -n "$ok" ] || { say "the live plugin is not running (enable it in the admin UI): no demo broadcast"; exit 0; }
cid=
if [ -s "$data/.live-demo" ]; then
    cid=$(cat "$data/.live-demo")
    case "$r" in
        *"$cid"*) ;;
        *) say "the demo broadcast ($cid) was removed; delete $data/.live-demo to make a new one"; exit 0 ;;
    esac
else
    r=$(req POST /api/plugins/live/commands/start \
        "{\"name\":\"demo\",\"source\":\"$source\",\"auto_start\":true}") || true
    cid=$(printf '%s' "$r" | sed -n 's/.*"content_id" *: *"\([0-9a-f]\{40\}\)".*/\1/p' | head -n 1)
    if [ "${r%%$'\n'*}" != 200 ] || [ -z "$cid" ]; then
        say "the demo broadcast did not start: ${r#*$'\n'}"
        exit 0
    fi
    printf '%s\n' "$cid" >"$data/.live-demo"
fi
base="http://$host:$port"
say "live demo broadcast \"demo\" (testsrc2 + 440 Hz tone), content ID $cid
  play it (VLC, mpv):   $base/ace/getstream?id=$cid
  HLS (browser, VLC):   $base/ace/manifest.m3u8?id=$cid
  descriptor:           $base/live/$cid.acelive
  admin UI:             $base/admin/  (user admin; 'openace --data $data passwd admin' sets a password)"
