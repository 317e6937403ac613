#!/usr/bin/env bash
# fastreg next to httpmock, measured by one outside load generator (BENCHMARKS.md, "Side by
# side"): wrk -t1 -c64 against
#   - the static ceiling: an axum handler answering {"errcode":0,"errmsg":"ok"}, no middleware
#     (`fastreg bench --serve-static`), to the same POST as fastreg's without reading its
#     body; and again at /body, after reading the body as every WeChat API handler must
#     (taking the body wakes the connection's own task, and under axum::serve tokio then
#     queues it behind its worker's other tasks, which shows in the tail when the server is
#     saturated on two cores; fastreg polls such a task again in place, http/serve.rs);
#   - fastreg serve on a new SQLite file: fastregister with the demo OA's token and a ticket
#     nobody issued, refused by the rules (61058) from its state; twice: as it starts by
#     default (an access-log line per request, on stderr), and with the access log off
#     (FASTREG_LOG=warn), as httpmock runs here (--disable-access-log);
#   - httpmock standalone, answering fastregister's success from a canned mock.
# Each gets a 2 s warm-up at the start of a round; then each round measures the five in turn in
# slices of SLICE seconds (default 2) until each has run WRK_SECONDS (default 8), so that every
# server's time is spread over the round and a host whose speed drifts moves them all alike (the
# same pairing as `fastreg bench`'s ceiling beside each scenario); ROUNDS (default 2) rounds. A
# server's figures are over all its slices: requests over time, and its percentiles from the
# slices' latency histograms merged. Under each server's line, its tail: p98, p99.5, p99.9 and
# the maximum. Each round ends with fastreg's (no access log) ratios to the ceiling's
# throughput and p99 and to httpmock's throughput, beside issue 18's targets. WORKERS=N gives
# every server N runtime threads (TOKIO_WORKER_THREADS, which all three read: tokio's own
# setting); unset, each takes one per core.
#
# Needs: target/release/fastreg (cargo build --release -p fastreg), wrk (apt-get install wrk),
# httpmock with its standalone server (cargo install httpmock --features standalone), curl.
set -euo pipefail
cd "$(dirname "$0")/.."
FASTREG=${FASTREG:-target/release/fastreg}
HTTPMOCK=${HTTPMOCK:-httpmock}
ROUNDS=${ROUNDS:-2}
WRK_SECONDS=${WRK_SECONDS:-8}
SLICE=${SLICE:-2}
WORKERS=${WORKERS:-}
if [ -n "$WORKERS" ]; then export TOKIO_WORKER_THREADS=$WORKERS; fi
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"' EXIT

wait_for() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "$1 did not answer" >&2; exit 1; }

"$FASTREG" bench --serve-static 127.0.0.1:18081 2>/dev/null & pids+=($!)
ADMIN=side-by-side-admin-token
"$FASTREG" serve --addr 127.0.0.1:18080 --no-proxy --db "sqlite://$dir/fastreg.db" \
    --admin-token "$ADMIN" >/dev/null 2>&1 & pids+=($!)
mkdir -p "$dir/quiet"
FASTREG_LOG=warn "$FASTREG" serve --addr 127.0.0.1:18083 --no-proxy --db "sqlite://$dir/quiet/fastreg.db" \
    --admin-token "$ADMIN" >/dev/null 2>&1 & pids+=($!)
mkdir -p "$dir/mocks"
cat > "$dir/mocks/fastregister.yaml" <<'EOF'
when:
  method: POST
  path: /cgi-bin/account/fastregister
then:
  status: 200
  header:
    - name: content-type
      value: application/json
  body: '{"errcode":0,"errmsg":"ok","appid":"wx3f6a1c0b5d2e4f70","authorization_code":"c0de","is_wx_verify_succ":true,"is_link_succ":true}'
EOF
"$HTTPMOCK" --port 18082 --mock-files-dir "$dir/mocks" --disable-access-log >/dev/null 2>&1 & pids+=($!)
wait_for http://127.0.0.1:18081/
wait_for http://127.0.0.1:18080/healthz
wait_for http://127.0.0.1:18082/__httpmock__/ping || true

# oa_token BASE ADMIN: the demo OA's authorizer token.
source scripts/oa-token.sh
wait_for http://127.0.0.1:18083/healthz
B=http://127.0.0.1:18080; OAT=$(oa_token $B $ADMIN)
Q=http://127.0.0.1:18083; QOAT=$(oa_token $Q $ADMIN)
check=$(curl -s -X POST http://127.0.0.1:18082/cgi-bin/account/fastregister -d '{"ticket":"x"}')
grep -q '"errcode":0' <<<"$check" || { echo "httpmock did not answer the mock: $check" >&2; exit 1; }

cat > "$dir/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"ticket":"00000000000000000000000000000000"}'
wrk.headers["Content-Type"] = "application/json"
-- The slice's figures for merging: its requests, errors and time (microseconds), then its
-- latency histogram (each distinct latency in microseconds and how many requests took it).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("slice %d %d %d\n", summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout, summary.duration))
  for i = 1, #latency do
    local v, n = latency(i)
    io.write(string.format("lat %d %d\n", v, n))
  end
end
EOF
# The servers in the order each slice cycle takes them: the three the verdict compares first.
KEYS=(ceiling quiet httpmock body logged)
declare -A NAME URL
NAME[ceiling]="static ceiling"; URL[ceiling]=http://127.0.0.1:18081/
NAME[quiet]="fastreg 61058, no access log"; URL[quiet]="$Q/cgi-bin/account/fastregister?access_token=$QOAT"
NAME[httpmock]="httpmock (canned success)"; URL[httpmock]=http://127.0.0.1:18082/cgi-bin/account/fastregister
NAME[body]="static ceiling, body read"; URL[body]=http://127.0.0.1:18081/body
NAME[logged]="fastreg 61058 (stateful)"; URL[logged]="$B/cgi-bin/account/fastregister?access_token=$OAT"
# A server's slices merged: throughput, p50 and p99 (milliseconds) and its tail (microseconds).
# Sets RPS[key] and P99[key] and prints the server's two lines.
declare -A RPS P99
report() { # key
    local line rps err p50 p99 p98 p995 p999 max req
    # The slices' histograms as one list of (latency, count) in order of latency.
    line=$( { grep '^slice ' "$dir/$1.out"; grep '^lat ' "$dir/$1.out" | sort -n -k2,2; } | awk '
        $1 == "slice" { req += $2; err += $3; us += $4; next }
        { v[++m] = $2; n[m] = $3; total += $3 }
        END {
            split("50 98 99 99.5 99.9", ps, " ")
            for (k = 1; k <= 5; k++) {
                want = total * ps[k] / 100; seen = 0
                for (i = 1; i <= m; i++) { seen += n[i]; if (seen >= want) { q[k] = v[i]; break } }
            }
            printf "%.2f %d %.3f %.3f %d %d %d %d %d\n", req / (us / 1e6), err, q[1] / 1000,
                q[3] / 1000, q[2], q[4], q[5], v[m], req
        }')
    read -r rps err p50 p99 p98 p995 p999 max req <<<"$line"
    printf '%-34s %12s req/s   p50 %6s ms   p99 %6s ms\n' "${NAME[$1]}" "$rps" "$p50" "$p99"
    printf '%-34s tail: p98 %d  p99.5 %d  p99.9 %d  max %d us; %d requests' "" "$p98" "$p995" "$p999" "$max" "$req"
    if [ "$err" -gt 0 ]; then printf ', %d errors' "$err"; fi
    echo
    RPS[$1]=$rps
    P99[$1]=$p99
}
# The round against issue 18's must-have: fastreg without its access log (as httpmock runs)
# against the ceiling and against httpmock.
verdict() {
    awk -v f="${RPS[quiet]}" -v c="${RPS[ceiling]}" -v h="${RPS[httpmock]}" \
        -v fp="${P99[quiet]}" -v cp="${P99[ceiling]}" 'BEGIN {
        printf "  fastreg, no access log: %.3f x the ceiling (target >= 0.8), p99 %.2f x the ceiling'"'"'s (<= 1.5), %.2f x httpmock (>= 1)\n", f / c, fp / cp, f / h
    }'
}
for r in $(seq "$ROUNDS"); do
    echo "round $r"
    for key in "${KEYS[@]}"; do
        wrk -t1 -c64 -d2s -s "$dir/post.lua" "${URL[$key]}" >/dev/null
        : >"$dir/$key.out"
    done
    left=$WRK_SECONDS
    while [ "$left" -gt 0 ]; do
        slice=$((left < SLICE ? left : SLICE))
        for key in "${KEYS[@]}"; do
            wrk -t1 -c64 -d"${slice}s" -s "$dir/post.lua" "${URL[$key]}" | grep -E '^(slice|lat) ' >>"$dir/$key.out"
        done
        left=$((left - slice))
    done
    for key in "${KEYS[@]}"; do report "$key"; done
    verdict
done
