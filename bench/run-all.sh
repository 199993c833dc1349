#!/usr/bin/env bash
# run-all.sh - the second phase of scripts/bench: one table of W1 W1j W2 W3 W4 W5 for the peer,
# the ceiling, Accord on SQLite and Accord on PostgreSQL, measured in one run on this machine.
#
#   bench/run-all.sh ACCORD_BINARY      (scripts/bench builds the binary and calls this)
#
# Servers, all up at once (an idle one sleeps in epoll); workloads interleaved (W1 on each server,
# then W1j on each, ...) so that drift of this machine's speed hits the compared servers alike:
#   peer             node oidc-provider 9: the harness's peer configuration plus refresh rotation
#                    and a bench-only minting route (bench/peer-refresh.mjs)        127.0.0.1:4100
#   limit            the harness's ceiling (a bare axum server, one EdDSA JWT a request) :4200
#   accord-sqlite    accord serve, SQLite in a temporary folder                          :4301
#   accord-postgres  accord serve, a fresh PostgreSQL database (created, then dropped)    :4302
# Accord runs with --rate-limits off on bench/seed.json (applied by `accord seed` first), as in
# the harness phase.
#
# Workloads (wrk -t$THREADS -c$CONNS, $WARMUP s warm-up discarded, then $DURATION s):
#   W1   client-credentials token (peer: opaque, stored; limit and Accord: their EdDSA JWT)
#   W1j  client-credentials token as an EdDSA JWT (peer: resource urn:bench:jwt)
#   W2   introspection of a valid token (peer: opaque; limit and Accord: JWT)
#   W3   bearer GET (peer and limit: /api; Accord: /v2/users/me, the permission rule)
#   W4   refresh with rotation (bench/refresh.lua): a pool of 2 x CONNS refresh tokens, each
#        answer's new refresh token goes back into the pool; every token left in the pool after
#        the run must still refresh. Peer: tokens minted by its bench route; Accord: by whole
#        code flows of the seed's user app (bench/flow.mjs --mint). No ceiling counterpart.
#   W5   the whole authorization-code + PKCE flow of a user app with sign-in (Argon2id) and
#        consent (bench/flow.mjs --measure, $W5_CONCURRENCY virtual users), Accord only: the
#        peer ships no login app, and the ceiling has none.
# Each measured run waits (at most QUIET_MAX s) for a quiet machine first; server CPU comes from
# /proc/PID/stat, peak RSS is the server's VmHWM after the run. With ROUNDS=N each workload runs N
# times on every server (servers interleaved within each round) and the table shows each server's
# median round by req/s; the report lists every round's ratios too (this machine's speed moves by
# ±25% between two runs of the same workload).
#
# Needs what the harness phase installed and built in $BENCH_WORK (default
# ${TMPDIR:-/tmp}/accord-peer-bench): peer/node_modules and limit/target/release/limit.
# Knobs (env): DURATION=10 WARMUP=3 THREADS=2 CONNS=64 W5_CONCURRENCY=8 ROUNDS=1 QUIET_MAX=120
#              QUIET_PCT=15 PG_URL=postgres://postgres@127.0.0.1:5432 BENCH_WORK
# Markdown on stdout, progress on stderr. Stops only the processes it started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ACCORD="${1:?usage: bench/run-all.sh ACCORD_BINARY}"
HERE="${BENCH_WORK:-${TMPDIR:-/tmp}/accord-peer-bench}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-3}"
THREADS="${THREADS:-2}"
CONNS="${CONNS:-64}"
W5_CONCURRENCY="${W5_CONCURRENCY:-8}"
ROUNDS="${ROUNDS:-1}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "error: ROUNDS must be a positive number, not $ROUNDS" >&2; exit 1; }
QUIET_MAX="${QUIET_MAX:-120}"
QUIET_PCT="${QUIET_PCT:-15}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432}"
POOL_SIZE=$((2 * CONNS))
HOST=127.0.0.1
CLIENT_ID="bench-client"
CLIENT_SECRET="bench-secret-0123456789abcdef0123456789abcdef"
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
# Accord's refresh tokens belong to the seed's user app (bench/seed.json, bench/flow.mjs defaults).
USER_APP_BASIC="Basic $(printf '%s:%s' bench-user-client bench-user-secret-0123456789abcdef0123456789ab | base64 -w0)"
SERVERS="peer limit accord-sqlite accord-postgres"
# Argon2id as Accord hashes and checks passwords: PasswordCost::DEFAULT and the lane count given
# to Params::new in crates/accord-store/src/secrets.rs, read from the source below (and the
# serve flags --argon2-memory-kib / --argon2-iterations are left at their defaults).
SECRETS_RS="$ROOT/crates/accord-store/src/secrets.rs"
PASSWORD_CHECK_WORKERS="$(nproc)"

[ -x "$ACCORD" ] || { echo "error: no Accord binary at $ACCORD" >&2; exit 1; }
[ -d "$HERE/peer/node_modules/oidc-provider" ] || { echo "error: $HERE/peer/node_modules is missing: run the harness phase first" >&2; exit 1; }
[ -x "$HERE/limit/target/release/limit" ] || { echo "error: $HERE/limit/target/release/limit is missing: run the harness phase first" >&2; exit 1; }
for tool in wrk node curl psql; do command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }; done

LOGDIR="$HERE/out/run-all-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$LOGDIR"
cp "$ROOT/bench/peer-refresh.mjs" "$HERE/peer/peer-refresh.mjs"
PG_DB="accord_bench_$(date +%s)_$$"
STARTED_PIDS=()
declare -A SPID SBASE

log() { printf '[run-all %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

stop_pid() {
  local pid="$1" _
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB" >/dev/null 2>&1 || true
  rm -rf "$LOGDIR/sqlite"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ measuring (after the harness)
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
sys_busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $9}' /proc/stat; }
# "pid ticks" of every PostgreSQL backend serving our database (its process title names it)
db_ticks() {
  local p
  for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)" in
      *": postgres $PG_DB "*) awk -v pid="${p#/proc/}" '{print pid, $14 + $15}' "$p/stat" 2>/dev/null ;;
    esac
  done
}
QUIET_FLAGS=()
quiet_wait() { # label: wait until the machine is idle apart from our idle servers; bounded
  local waited=0 b0 b1 pct
  while :; do
    b0=$(sys_busy_ticks); sleep 1; b1=$(sys_busy_ticks)
    pct=$(( (b1 - b0) * 100 / CLK_TCK ))
    [ "$pct" -le "$QUIET_PCT" ] && return 0
    if [ "$waited" -ge "$QUIET_MAX" ]; then
      log "machine still busy (${pct}% of a core) after ${QUIET_MAX}s; measuring $1 anyway"
      QUIET_FLAGS+=("$1 (${pct}% of a core busy when it started)"); return 0
    fi
    [ $((waited % 30)) -eq 0 ] && log "waiting for other load to stop (${pct}% of a core busy)"
    sleep 4; waited=$((waited + 5))
  done
}
json_field() { node -e 'let d="";process.stdin.on("data",c=>d+=c).on("end",()=>{try{const v=JSON.parse(d)[process.argv[1]];process.stdout.write(v===undefined?"":String(v))}catch{}})' "$1"; }
curl_form() { curl -s --max-time 10 -H "Authorization: $BASIC" -d "$3" "${SBASE[$1]}$2"; }
refresh_basic() { if [ "$1" = peer ]; then echo "$BASIC"; else echo "$USER_APP_BASIC"; fi; }

cat >"$LOGDIR/fixed.lua" <<'LUAEOF'
-- wrk script (the harness's): method/body/authorization from the environment; one RESULT line.
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and #body > 0 then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local auth = os.getenv("WRK_AUTH")
if auth and #auth > 0 then wrk.headers["Authorization"] = auth end
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d status_err=%d sock_err=%d\n",
    s.requests, s.duration, s.requests / (s.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
LUAEOF

ROWS=()
# measure server workload extra-note command...: quiet machine, then the command (which prints one
# RESULT line) with the server's CPU ticks, the machine's busy ticks and wall time around it.
measure() {
  local server="$1" wl="$2" note="$3" out="$LOGDIR/$1-$2.out" pid="${SPID[$1]}" c0 c1 s0 s1 t0 t1 res db=""
  shift 3
  quiet_wait "$server/$wl"
  log "$server/$wl: measuring ${DURATION}s"
  [ "$server" = accord-postgres ] && db_ticks >"$LOGDIR/db-ticks.before"
  s0=$(sys_busy_ticks); c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  "$@" >"$out" 2>"$out.err" || true
  c1=$(cpu_ticks "$pid"); s1=$(sys_busy_ticks); t1=$(date +%s.%N)
  if [ "$server" = accord-postgres ]; then
    # PostgreSQL's own CPU for this run: its backends' ticks now minus before (0 for new ones)
    db=$(db_ticks | awk 'NR == FNR {before[$1] = $2; next} {sum += $2 - before[$1]} END {print sum + 0}' "$LOGDIR/db-ticks.before" -)
  fi
  res=$(grep '^RESULT' "$out" | tail -n 1 || true)
  [ -n "$res" ] || { cat "$out" "$out.err" >&2; die "no RESULT for $server/$wl"; }
  ROWS+=("$server|$wl|${res#RESULT }|srv_ticks=$((c1 - c0))|db_ticks=$db|sys_ticks=$((s1 - s0))|t0=$t0|t1=$t1|hwm_kb=$(status_kb "$pid" VmHWM)|note=$note")
  log "$server/$wl: ${res#RESULT }"
}
wrk_fixed() { # url method body auth seconds
  WRK_METHOD="$2" WRK_BODY="$3" WRK_AUTH="$4" timeout $(($5 + 30)) \
    wrk -t"$THREADS" -c"$CONNS" -d"${5}s" --timeout 5s -s "$LOGDIR/fixed.lua" "$1"
}
wrk_refresh() { # url authorization pool-in pool-out seconds
  POOL_IN="$3" POOL_OUT="$4" WRK_THREADS="$THREADS" WRK_AUTH="$2" timeout $(($5 + 30)) \
    wrk -t"$THREADS" -c"$CONNS" -d"${5}s" --timeout 5s -s "$ROOT/bench/refresh.lua" "$1"
}
run_fixed() { # server workload method path body auth
  local url="${SBASE[$1]}$4"
  log "$1/$2: warm-up ${WARMUP}s"
  wrk_fixed "$url" "$3" "$5" "$6" "$WARMUP" >"$LOGDIR/$1-$2.warmup" 2>&1 || true
  measure "$1" "$2" "" wrk_fixed "$url" "$3" "$5" "$6" "$DURATION"
}

CHECKS=()
check() { # description ok|what-went-wrong
  if [ "$2" = ok ]; then CHECKS+=("- [x] $1"); else CHECKS+=("- [ ] $1 -> $2"); log "check failed: $1 ($2)"; fi
}

# ------------------------------------------------------------------ servers
wait_ready() { # url pid
  local _
  for _ in $(seq 1 300); do
    kill -0 "$2" 2>/dev/null || return 1
    curl -s -f -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.2
  done
  return 1
}
start() { # name port ready-path command...
  local name="$1" port="$2" ready="$3"
  shift 3
  "$@" >"$LOGDIR/$name.log" 2>&1 &
  SPID[$name]=$!; SBASE[$name]="http://$HOST:$port"; STARTED_PIDS+=("$!")
  wait_ready "${SBASE[$name]}$ready" "${SPID[$name]}" || { tail -n 30 "$LOGDIR/$name.log" >&2; die "$name did not start"; }
  log "$name up, pid ${SPID[$name]}, RSS $(( $(status_kb "${SPID[$name]}" VmRSS) / 1024 )) MiB"
}
# PostgreSQL needs the nodes' shared master key (SQLite keeps its own beside the file): a fresh one.
MASTER_KEY=$(head -c 32 /dev/urandom | base64 -w0)
accord() { # name port database-url
  # the Argon2id cost stays the default the report states (no ACCORD_ARGON2_* from the caller);
  # seeded by its own process first, so hashing the seed's passwords is not in the server's RSS
  env -u ACCORD_ARGON2_MEMORY_KIB -u ACCORD_ARGON2_ITERATIONS ACCORD_LOG=warn ACCORD_DATABASE="$3" \
    ACCORD_MASTER_KEY="$MASTER_KEY" "$ACCORD" seed "$ROOT/bench/seed.json" >"$LOGDIR/$1-seed.log" 2>&1 ||
    { cat "$LOGDIR/$1-seed.log" >&2; die "$1: accord seed failed"; }
  start "$1" "$2" /readyz env -u ACCORD_ARGON2_MEMORY_KIB -u ACCORD_ARGON2_ITERATIONS \
    ACCORD_LOG=warn ACCORD_DATABASE="$3" ACCORD_MASTER_KEY="$MASTER_KEY" "$ACCORD" serve \
    --bind "$HOST:$2" --rate-limits off --password-check-workers "$PASSWORD_CHECK_WORKERS"
}

log "starting servers"
start peer 4100 /.well-known/openid-configuration \
  bash -c "cd '$HERE/peer' && NODE_ENV=production PORT=4100 exec node peer-refresh.mjs"
start limit 4200 /jwks env PORT=4200 "$HERE/limit/target/release/limit"
mkdir -p "$LOGDIR/sqlite"
accord accord-sqlite 4301 "sqlite://$LOGDIR/sqlite/bench.db"
psql -q "$PG_URL/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB at $PG_URL"
accord accord-postgres 4302 "$PG_URL/$PG_DB"

# ------------------------------------------------------------------ tokens and checks
declare -A TOKEN_PATH INTROSPECT_PATH API_PATH JWT
TOKEN_PATH=([peer]=/token [limit]=/token [accord-sqlite]=/oauth/token [accord-postgres]=/oauth/token)
INTROSPECT_PATH=([peer]=/token/introspection [limit]=/introspect [accord-sqlite]=/oauth/introspect [accord-postgres]=/oauth/introspect)
API_PATH=([peer]=/api [limit]=/api [accord-sqlite]=/v2/users/me [accord-postgres]=/v2/users/me)
JWT[peer]=$(curl_form peer /token 'grant_type=client_credentials&scope=api:read&resource=urn:bench:jwt' | json_field access_token)
for s in limit accord-sqlite accord-postgres; do
  JWT[$s]=$(curl_form "$s" "${TOKEN_PATH[$s]}" 'grant_type=client_credentials&scope=api:read' | json_field access_token)
done
for s in $SERVERS; do
  r=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${JWT[$s]}" "${SBASE[$s]}${API_PATH[$s]}")
  [ "$r" = 200 ] && r=ok; check "$s: GET ${API_PATH[$s]} with its W3 token -> 200" "$r"
done
flow() { # server args...: bench/flow.mjs against an Accord
  local s="$1"; shift
  node "$ROOT/bench/flow.mjs" --base "${SBASE[$s]}" "$@"
}
for s in accord-sqlite accord-postgres; do
  r=$(flow "$s" 2>&1) && r=ok; check "$s: one code + PKCE flow (sign-in, consent, code exchange) and its token on /v2/users/me" "$r"
done

# refresh token pools (one a line)
mint() { # server count file
  case "$1" in
    peer) curl -s -f --max-time 60 -X POST -H "Authorization: $BASIC" "${SBASE[peer]}/bench/refresh-tokens?n=$2" >"$3" ;;
    *) flow "$1" --mint "$2" >"$3" ;;
  esac
  [ "$(grep -c . "$3")" -eq "$2" ] || die "$1: minted $(grep -c . "$3") refresh tokens of $2"
}
refresh_post() { # server token -> the token endpoint's answer
  curl -s --max-time 10 -H "Authorization: $(refresh_basic "$1")" \
    -d "grant_type=refresh_token&refresh_token=$2" "${SBASE[$1]}${TOKEN_PATH[$1]}"
}
refresh_once() { # server token -> the new refresh token, or nothing
  refresh_post "$1" "$2" | json_field refresh_token
}
for s in peer accord-sqlite accord-postgres; do
  mint "$s" 1 "$LOGDIR/$s-one.pool"
  old=$(cat "$LOGDIR/$s-one.pool"); new=$(refresh_once "$s" "$old"); newer=""
  # Accord answers the same successor to a replay within its grace window (--refresh-grace, 60 s)
  # while that successor is unused: what must hold is that the successor differs, works, and once
  # it was used the old token is refused.
  [ -n "$new" ] && [ "$new" != "$old" ] && newer=$(refresh_once "$s" "$new")
  replay=$(refresh_post "$s" "$old")
  if [ -n "$newer" ] && grep -q invalid_grant <<<"$replay"; then r=ok; else r="successor ${new:0:8}… then ${newer:0:8}…, old again: ${replay:0:120}"; fi
  check "$s: a refresh token refreshes once (200, a new refresh_token, which refreshes too), then the old one is refused (invalid_grant)" "$r"
done

W4_NOTES=()
run_w4() { # server
  local s="$1" url="${SBASE[$1]}${TOKEN_PATH[$1]}" left bad=0 t n=0
  # Accord: a user's new authorization ends its earlier refresh tokens, so each pool is one token
  # of each of POOL_SIZE users, and the measured pool is minted after the warm-up.
  log "$s/W4: minting $POOL_SIZE refresh tokens, warm-up ${WARMUP}s"
  mint "$s" "$POOL_SIZE" "$LOGDIR/$s-W4-warmup.pool"
  wrk_refresh "$url" "$(refresh_basic "$s")" "$LOGDIR/$s-W4-warmup.pool" /dev/null "$WARMUP" >"$LOGDIR/$s-W4.warmup" 2>&1 || true
  log "$s/W4: minting $POOL_SIZE refresh tokens"
  mint "$s" "$POOL_SIZE" "$LOGDIR/$s-W4.pool"
  measure "$s" W4 "" wrk_refresh "$url" "$(refresh_basic "$s")" "$LOGDIR/$s-W4.pool" "$LOGDIR/$s-W4.left" "$DURATION"
  while read -r t; do
    n=$((n + 1))
    [ -n "$(refresh_once "$s" "$t")" ] || bad=$((bad + 1))
  done <"$LOGDIR/$s-W4.left"
  left=$(grep '^RESULT' "$LOGDIR/$s-W4.out" | tail -n 1)
  W4_NOTES+=("- $s: pool $POOL_SIZE, answers not 200: $(sed -n 's/.* non200=\([0-9]*\).*/\1/p' <<<"$left"), requests sent with an empty pool: $(sed -n 's/.* empty=\([0-9]*\).*/\1/p' <<<"$left"), socket errors: $(sed -n 's/.* sock_err=\([0-9]*\).*/\1/p' <<<"$left"); $n tokens left in the pool after the run (the others were in flight when wrk stopped, or taken by wrk's own check of request()), $bad of them failed to refresh afterwards")
  [ "$bad" -eq 0 ] && r=ok || r="$bad of $n failed"
  check "$s (W4): every refresh token left in the pool after the run still refreshes" "$r"
}

# ------------------------------------------------------------------ the runs, interleaved
for wl in W1 W1j W2 W3 W4 W5; do
 for round in $(seq 1 "$ROUNDS"); do
  [ "$ROUNDS" -eq 1 ] || log "$wl: round $round of $ROUNDS"
  for s in $SERVERS; do
    case "$wl:$s" in
      W1:peer) run_fixed peer W1 POST /token 'grant_type=client_credentials&scope=api:read' "$BASIC" ;;
      W1j:peer) run_fixed peer W1j POST /token 'grant_type=client_credentials&scope=api:read&resource=urn:bench:jwt' "$BASIC" ;;
      W1:*|W1j:*) run_fixed "$s" "$wl" POST "${TOKEN_PATH[$s]}" 'grant_type=client_credentials&scope=api:read' "$BASIC" ;;
      W2:peer)
        # a fresh opaque token just before the run (as the harness does)
        opaque=$(curl_form peer /token 'grant_type=client_credentials&scope=api:read' | json_field access_token)
        run_fixed peer W2 POST /token/introspection "token=$opaque&token_type_hint=access_token" "$BASIC"
        r=$(curl_form peer /token/introspection "token=$opaque&token_type_hint=access_token" | grep -q '"active":true' && echo ok || echo inactive)
        check "peer (W2): the introspected token is still active after the run" "$r" ;;
      W2:*)
        run_fixed "$s" W2 POST "${INTROSPECT_PATH[$s]}" "token=${JWT[$s]}&token_type_hint=access_token" "$BASIC"
        r=$(curl_form "$s" "${INTROSPECT_PATH[$s]}" "token=${JWT[$s]}&token_type_hint=access_token" | grep -q '"active":true' && echo ok || echo inactive)
        check "$s (W2): the introspected token is active after the run" "$r" ;;
      W3:*) run_fixed "$s" W3 GET "${API_PATH[$s]}" '' "Bearer ${JWT[$s]}" ;;
      W4:limit|W5:peer|W5:limit) ;;
      W4:*) run_w4 "$s" ;;
      W5:*)
        # flow.mjs reads the server's CPU around its timed part only (srv_ticks in its RESULT
        # comes first in the row, so field() takes it over measure()'s, which has the untimed flows)
        measure "$s" W5 "" flow "$s" --measure "$DURATION" --concurrency "$W5_CONCURRENCY" --server-pid "${SPID[$s]}"
        [ -s "$LOGDIR/$s-W5.out.err" ] && sed 's/^/    /' "$LOGDIR/$s-W5.out.err" >&2 ;;
    esac
  done
 done
done

# ------------------------------------------------------------------ report
field() { tr ' |' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k {print $2; exit}'; }
rows_of() { local r; for r in "${ROWS[@]}"; do case "$r" in "$1|$2|"*) echo "$r" ;; esac; done; }
# the server's median round of a workload by req/s (of an even count, the lower middle)
row_of() {
  local r all n
  all=$(rows_of "$1" "$2" | while IFS= read -r r; do printf '%s\t%s\n' "$(field "$r" rps)" "$r"; done | sort -g -k1,1 | cut -f2-)
  n=$(grep -c . <<<"$all" || true)
  [ "$n" -gt 0 ] || return 0
  sed -n "$(( (n + 1) / 2 ))p" <<<"$all"
}
rps_of() { local r; r=$(row_of "$1" "$2"); if [ -n "$r" ]; then field "$r" rps; fi; }
wl_desc() {
  case "$1:$2" in
    W1:peer) echo "W1 client credentials (opaque, stored)" ;;
    W1:*) echo "W1 client credentials (EdDSA JWT)" ;;
    W1j:*) echo "W1j client credentials (EdDSA JWT)" ;;
    W2:peer) echo "W2 introspection (opaque)" ;;
    W2:*) echo "W2 introspection (JWT)" ;;
    W3:accord*) echo "W3 bearer GET /v2/users/me" ;;
    W3:*) echo "W3 bearer GET /api" ;;
    W4:*) echo "W4 refresh with rotation" ;;
    W5:*) echo "W5 code + PKCE flow, sign-in and consent (per flow)" ;;
  esac
}
argon_memory=$(grep -A3 'pub const DEFAULT: PasswordCost' "$SECRETS_RS" | sed -n 's/.*memory_kib: \(.*\),/\1/p')
argon_iterations=$(grep -A3 'pub const DEFAULT: PasswordCost' "$SECRETS_RS" | sed -n 's/.*iterations: \(.*\),/\1/p')
argon_lanes=$(sed -n 's/.*Params::new(cost.memory_kib, cost.iterations, \([0-9]*\), None).*/\1/p' "$SECRETS_RS")
if ! [[ "$argon_memory" =~ ^[0-9\ \*]+$ && "$argon_iterations" =~ ^[0-9]+$ && "$argon_lanes" =~ ^[0-9]+$ ]]; then
  die "cannot read the Argon2id cost from $SECRETS_RS"
fi
argon_memory=$((argon_memory))
peer_ver=$(node -p "require('$HERE/peer/node_modules/oidc-provider/package.json').version")
{
  echo "## One table: peer, ceiling, Accord on SQLite and on PostgreSQL (W1-W5)"
  echo
  echo "- Date: $(date -u +'%Y-%m-%d %H:%M UTC')"
  echo "- Machine: $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r)"
  echo "- Load: wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}') -t$THREADS -c$CONNS --timeout 5s, ${WARMUP}s warm-up (discarded) then ${DURATION}s measured, 127.0.0.1 only, keep-alive; W5: bench/flow.mjs (Node $(node -v) fetch), $W5_CONCURRENCY virtual users for ${DURATION}s after one untimed flow each"
  echo "- peer: node-oidc-provider $peer_ver, NODE_ENV=production, the harness's configuration plus rotateRefreshToken: true, a bench-only minting route and an in-memory store of 1,000,000 entries instead of 1000 (bench/peer-refresh.mjs); its W4 answer also carries an id_token (scope openid), one more EdDSA signature per refresh"
  echo "- Accord: \`accord seed bench/seed.json\` then \`accord serve --rate-limits off --password-check-workers $PASSWORD_CHECK_WORKERS\`, ACCORD_LOG=warn; SQLite file in a temporary folder; PostgreSQL $(psql -tA "$PG_URL/postgres" -c 'SHOW server_version' 2>/dev/null) on 127.0.0.1, a fresh database"
  echo "- Argon2id (Accord's passwords, crates/accord-store/src/secrets.rs PasswordCost::DEFAULT): memory $argon_memory KiB ($((argon_memory / 1024)) MiB), $argon_iterations iterations, $argon_lanes lane; password-check workers: $PASSWORD_CHECK_WORKERS (the number of cores, the default)"
  echo "- CPU us/req: server process CPU time (/proc/PID/stat) / requests (W5: / flows; for W5 over the timed flows only); accord-postgres: \"(+N db)\" is the CPU of the PostgreSQL backends serving its database in that run, per request (the SQLite rows' database work is inside the server process); peak RSS: the server's VmHWM after the run; x peer, x ceiling: req/s over the peer's / the ceiling's req/s in the same workload of this run"
  echo
  echo "| server | workload | req/s | p50 ms | p99 ms | non-2xx | CPU us/req | peak RSS MiB | x peer | x ceiling |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for wl in W1 W1j W2 W3 W4 W5; do
    for s in $SERVERS; do
      row=$(row_of "$s" "$wl"); [ -n "$row" ] || continue
      peer_rps=$(rps_of peer "$wl"); limit_rps=$(rps_of limit "$wl")
      [ "$s" = peer ] && peer_rps=""; [ "$s" = limit ] && limit_rps=""
      err=$(field "$row" status_err); se=$(field "$row" sock_err)
      [ "${se:-0}" -gt 0 ] && err="$err (+$se sock)"
      awk -v s="$s" -v w="$(wl_desc "$wl" "$s")" -v req="$(field "$row" requests)" -v rps="$(field "$row" rps)" \
          -v p50="$(field "$row" p50_us)" -v p99="$(field "$row" p99_us)" -v err="$err" -v t="$(field "$row" srv_ticks)" \
          -v hz="$CLK_TCK" -v hwm="$(field "$row" hwm_kb)" -v pr="$peer_rps" -v lr="$limit_rps" -v db="$(field "$row" db_ticks)" 'BEGIN{
        xp = (pr == "") ? "—" : sprintf("%.2fx", rps / pr); xl = (lr == "") ? "—" : sprintf("%.2fx", rps / lr);
        cpu = (req > 0) ? sprintf("%.1f", 1e6 * t / hz / req) : "—";
        if (db != "" && req > 0) cpu = cpu sprintf(" (+%.1f db)", 1e6 * db / hz / req);
        printf "| %s | %s | %.0f | %.2f | %.2f | %s | %s | %.1f | %s | %s |\n", s, w, rps, p50 / 1000, p99 / 1000, err, cpu, hwm / 1024, xp, xl }'
    done
  done
  echo
  echo "W4 has no ceiling row, W5 neither a peer nor a ceiling row: oidc-provider ships no login app (its authorization endpoint needs one), and the ceiling has no users. Rows marked \"—\" have no counterpart in this run."
  echo
  if [ "$ROUNDS" -gt 1 ]; then
    echo "### Every round"
    echo
    echo "The table shows each server's median round (by req/s) of $ROUNDS. Every round's req/s in order, with Accord's ratios to the peer and to the ceiling of the same round:"
    echo
    for wl in W1 W1j W2 W3 W4 W5; do
      for s in $SERVERS; do
        mapfile -t mine < <(rows_of "$s" "$wl"); [ "${#mine[@]}" -gt 0 ] || continue
        mapfile -t peers < <(rows_of peer "$wl"); mapfile -t limits < <(rows_of limit "$wl")
        line="- $wl $s:"
        for i in "${!mine[@]}"; do
          rps=$(field "${mine[$i]}" rps); line+=$(printf ' %.0f' "$rps")
          if [[ "$s" == accord* ]]; then
            ratios=()
            [ -n "${peers[$i]:-}" ] && ratios+=("$(awk -v a="$rps" -v b="$(field "${peers[$i]}" rps)" 'BEGIN{printf "%.2fx peer", a / b}')")
            [ -n "${limits[$i]:-}" ] && ratios+=("$(awk -v a="$rps" -v b="$(field "${limits[$i]}" rps)" 'BEGIN{printf "%.2fx ceiling", a / b}')")
            [ "${#ratios[@]}" -eq 0 ] || line+=" ($(IFS=,; echo "${ratios[*]}" | sed 's/,/, /g'))"
          fi
          [ "$i" -lt $(( ${#mine[@]} - 1 )) ] && line+=";"
        done
        echo "$line"
      done
    done
    echo
  fi
  echo "### W4 pools"
  echo
  printf '%s\n' "${W4_NOTES[@]}"
  echo
  echo "### Machine load"
  echo
  if [ "${#QUIET_FLAGS[@]}" -eq 0 ]; then
    echo "Every measured run started on a quiet machine (at most $QUIET_PCT% of a core busy, waited up to ${QUIET_MAX}s)."
  else
    echo "Started while other load ran (waited ${QUIET_MAX}s for it to stop):"
    printf -- '- %s\n' "${QUIET_FLAGS[@]}"
  fi
  echo
  echo "### Checks"
  echo
  printf '%s\n' "${CHECKS[@]}"
  echo
  echo "Raw output and server logs: \`$LOGDIR/\`"
}
log "done"
