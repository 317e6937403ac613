#!/usr/bin/env bash
# User-space instructions per request, counted by valgrind's callgrind (BENCHMARKS.md, "What the
# gap is made of"): repeatable where a host's speed is not, so that a change to the request path
# can be compared on any machine.
#
#   scripts/instructions-per-request.sh fastreg   # fastreg serve (access log off), 61058
#   scripts/instructions-per-request.sh ceiling   # the static ceiling that reads the body (/body)
#
# The server starts under callgrind with its instrumentation off; a warm-up of WARMUP requests
# (default 500), then the instrumentation is switched on for N requests (default 3000), all from
# four keep-alive connections (Python's http.client), and the dump's total is divided by N.
# SHA-256 of the token runs without the CPU's SHA instructions under valgrind, so fastreg's count
# includes about 7k instructions that cost a few hundred on the real CPU.
#
# Needs: target/release/fastreg (cargo build --release -p fastreg), valgrind, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?usage: $0 fastreg|ceiling}
FASTREG=${FASTREG:-target/release/fastreg}
N=${N:-3000}
WARMUP=${WARMUP:-500}
PORT=${PORT:-18095}
dir=$(mktemp -d)
vg=""
trap '[ -n "$vg" ] && kill "$vg" 2>/dev/null; rm -rf "$dir"' EXIT
B=http://127.0.0.1:$PORT
ADMIN=instructions-admin-token
case $MODE in
fastreg)
    FASTREG_LOG=warn valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg" \
        "$FASTREG" serve --addr 127.0.0.1:$PORT --no-proxy --db "sqlite://$dir/f.db" \
        --admin-token $ADMIN >/dev/null 2>"$dir/vg.log" &
    vg=$! ;;
ceiling)
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/cg" \
        "$FASTREG" bench --serve-static 127.0.0.1:$PORT >/dev/null 2>"$dir/vg.log" &
    vg=$! ;;
*) echo "usage: $0 fastreg|ceiling" >&2; exit 2 ;;
esac
for _ in $(seq 600); do curl -s -o /dev/null -X POST -d '{}' "$B/body" && break; sleep 0.2; done
if [ "$MODE" = fastreg ]; then
    source scripts/oa-token.sh
    OAT=$(oa_token $B $ADMIN)
    URL_PATH="/cgi-bin/account/fastregister?access_token=$OAT"
    expect=61058
else
    URL_PATH=/body
    expect=0
fi
send() { # count
    python3 - "$PORT" "$URL_PATH" "$1" "$expect" <<'PY'
import http.client, json, sys
port, path, n, expect = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = b'{"ticket":"00000000000000000000000000000000"}'
conns = [http.client.HTTPConnection("127.0.0.1", port) for _ in range(4)]
for i in range(n):
    c = conns[i % 4]
    c.request("POST", path, body, {"Content-Type": "application/json"})
    answer = json.loads(c.getresponse().read())
    if answer["errcode"] != expect:
        sys.exit(f"expected errcode {expect}, got {answer}")
PY
}
send "$WARMUP"
callgrind_control -i on "$vg" >/dev/null 2>&1
send "$N"
callgrind_control -i off "$vg" >/dev/null 2>&1
callgrind_control -d "$vg" >/dev/null 2>&1
kill "$vg"; wait "$vg" 2>/dev/null || true; vg=""
total=$(cat "$dir"/cg* | awk '/^totals:/ {s += $2} END {print s}')
echo "$MODE: $((total / N)) user-space instructions per request ($total over $N requests)"
