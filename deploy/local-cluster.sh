#!/usr/bin/env bash
# A real Adjoint cluster on this machine: a private redis-server and N silo processes on 127.0.0.1.
#
#   deploy/local-cluster.sh up N     start Redis and N silos, wait until every silo has joined
#   deploy/local-cluster.sh restart N    stop silo N if it runs (SIGTERM, SIGKILL after 15 s) and start it
#                                        again on the same ports and settings, waiting until it has started
#   deploy/local-cluster.sh restart redis  the same for Redis (same port, same data folder)
#   deploy/local-cluster.sh status   list what runs
#   deploy/local-cluster.sh build    only build the host (Release)
#   deploy/local-cluster.sh down     stop exactly the processes `up` started, nothing else
#
# Everything lives in the run folder ($ADJOINT_RUN, default deploy/run): pids/, logs/, redis data and
# the file `cluster` holding the Redis connection string that clients pass to `--cluster`.
# ADJOINT_NO_BUILD=1 skips the build that `up` otherwise starts with.
# Ports: Redis $ADJOINT_REDIS_PORT (6390); silo i on $ADJOINT_SILO_PORT+i (11111+i) and gateway
# $ADJOINT_GATEWAY_PORT+i (30000+i), all on 127.0.0.1 only; `up` refuses to start if any is in use.
# ADJOINT_PROMETHEUS_PORT set: silo i serves its metrics at http://127.0.0.1:$ADJOINT_PROMETHEUS_PORT+i/metrics.
# ADJOINT_DASHBOARD_PORT=P serves silo i's live web view on 127.0.0.1:P+i (adjoint-host --dashboard).
# Logs are appended (a separator line per start), one timestamped line per event.
# Failure detection is fast here (seconds, see deploy/README.md): ADJOINT__Membership__* in the
# environment overrides it, as any ADJOINT__* host setting.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
run=${ADJOINT_RUN:-$here/run}
redis_port=${ADJOINT_REDIS_PORT:-6390}
silo_port=${ADJOINT_SILO_PORT:-11111}
gateway_port=${ADJOINT_GATEWAY_PORT:-30000}
host_bin=$root/src/Host/bin/Release/net10.0/adjoint-host

die() { echo "local-cluster: $*" >&2; exit 1; }

# Failure detection for a cluster on one machine, where a silo that stops answering is dead, not far
# away: a killed silo is voted dead after 2 missed probes of 2 s, and a row whose heartbeat (every 2 s)
# is 6 s old no longer counts, so that a lone survivor's vote, or a silo started alone, suffices.
export ADJOINT__Membership__ProbeTimeout=${ADJOINT__Membership__ProbeTimeout:-00:00:02}
export ADJOINT__Membership__NumMissedProbesLimit=${ADJOINT__Membership__NumMissedProbesLimit:-2}
export ADJOINT__Membership__IAmAliveTablePublishTimeout=${ADJOINT__Membership__IAmAliveTablePublishTimeout:-00:00:02}
export ADJOINT__Membership__NumMissedTableIAmAliveLimit=${ADJOINT__Membership__NumMissedTableIAmAliveLimit:-3}
export ADJOINT__Membership__TableRefreshTimeout=${ADJOINT__Membership__TableRefreshTimeout:-00:00:05}
export ADJOINT__Membership__DeathVoteExpirationTimeout=${ADJOINT__Membership__DeathVoteExpirationTimeout:-00:00:30}

# Whether something listens on a TCP port of this machine (any address).
port_in_use() {
  if command -v ss >/dev/null; then
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# Appends to a log the line that separates this start from the previous ones.
log_start() { echo "===== $(date -u +%Y-%m-%dT%H:%M:%S.%3NZ) local-cluster.sh: starting $2 =====" >>"$1"; }

# Starts silo i (Cluster mode on 127.0.0.1), appending to its log; records its pid.
start_silo() {
  local i=$1 log=$run/logs/silo$1.log
  log_start "$log" "silo $i (silo port $((silo_port + i)), gateway port $((gateway_port + i)))"
  local metrics=()
  # A Prometheus scrape endpoint per silo on 127.0.0.1:$ADJOINT_PROMETHEUS_PORT+i/metrics, if asked.
  if [[ -n ${ADJOINT_PROMETHEUS_PORT:-} ]]; then metrics=(--prometheus-port $((ADJOINT_PROMETHEUS_PORT + i))); fi
  # (env, so that the dashboard's setting, present or not, is an assignment too; env execs the host: $! stays its pid)
  env ADJOINT__Mode=Cluster ADJOINT__Redis="$(cat "$run/cluster")" ADJOINT__AdvertisedAddress=127.0.0.1 \
  ADJOINT__SiloPort=$((silo_port + i)) ADJOINT__GatewayPort=$((gateway_port + i)) \
  ${ADJOINT_DASHBOARD_PORT:+ADJOINT__Dashboard__Port=$((ADJOINT_DASHBOARD_PORT + i))} \
    "$host_bin" "${metrics[@]}" >>"$log" 2>&1 &
  echo $! >"$run/pids/silo$i.pid"
}

# Whether silo i has logged its start since its last separator line.
started() {
  awk '/^===== .* local-cluster.sh: starting /{s=0} /Adjoint silo started/{s=1} END{exit !s}' "$run/logs/silo$1.log" 2>/dev/null
}

# A process that has exited but whose parent is gone may stay a zombie until init reaps it (a silo
# killed with -9, say): kill -0 still finds it, but it is dead, and `down` must neither wait for it
# nor signal it.
running() { kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; }

alive() { [ -f "$1" ] && running "$(cat "$1")"; }

build() {
  mkdir -p "$run/logs"
  echo "building the host (Release)..."
  # One build at a time: two clusters started at once must not write the same obj/ folder together.
  if ! flock "$root/src/Host/.build.lock" dotnet build "$root/src/Host/Host.csproj" -c Release -v quiet -nologo \
      >"$run/logs/build.log" 2>&1; then
    tail -20 "$run/logs/build.log" >&2
    die "the host did not build; see $run/logs/build.log"
  fi
}

# Starts redis-server on the given port with its data in the run folder (the same folder every time, so
# that a restarted Redis finds its append-only file) and waits up to 5 s for it to answer. Every write
# is fsynced before Redis answers it (appendfsync always): a parameter step or membership change Redis
# acknowledged survives a kill -9 of Redis (with Redis' default, everysec, the last second may be lost).
start_redis() {
  log_start "$run/logs/redis.log" "redis-server on 127.0.0.1:$1"
  redis-server --port "$1" --bind 127.0.0.1 --dir "$run/redis" --save "" --appendonly yes --appendfsync always \
    --daemonize no >>"$run/logs/redis.log" 2>&1 &
  echo $! >"$run/pids/redis.pid"
  for _ in $(seq 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

# Waits up to 30 s until silo i has logged "Adjoint silo started" since its last separator line; fails
# (with the log's tail) if it exits first or does not start in time.
wait_silo() {
  local i=$1 log="$run/logs/silo$1.log"
  for _ in $(seq 300); do
    started "$i" && return 0
    alive "$run/pids/silo$i.pid" || { tail -20 "$log" >&2; echo "local-cluster: silo $i exited during start-up" >&2; return 1; }
    sleep 0.1
  done
  echo "local-cluster: silo $i did not start within 30 s" >&2
  return 1
}

up() {
  local n=${1:-}
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 up N (N silos, N >= 1)"
  command -v redis-server >/dev/null || die "redis-server is not installed (Debian: apt-get install redis-server)"
  if compgen -G "$run/pids/*.pid" >/dev/null; then
    for p in "$run"/pids/*.pid; do alive "$p" && die "a cluster is already running from $run (run '$0 down' first)"; done
  fi
  # A silo started on a port another one holds would take it for its own older incarnation and declare
  # it dead (the host refuses too; this refuses before anything starts).
  if port_in_use "$redis_port"; then
    die "Redis port $redis_port on 127.0.0.1 is in use (set ADJOINT_REDIS_PORT, or run '$0 down' for the cluster that holds it)"
  fi
  for i in $(seq 0 $((n - 1))); do
    if port_in_use $((silo_port + i)); then
      die "silo port $((silo_port + i)) (silo $i) on 127.0.0.1 is in use (set ADJOINT_SILO_PORT, or stop what listens there)"
    fi
    if port_in_use $((gateway_port + i)); then
      die "gateway port $((gateway_port + i)) (silo $i) on 127.0.0.1 is in use (set ADJOINT_GATEWAY_PORT, or stop what listens there)"
    fi
  done
  mkdir -p "$run/pids" "$run/logs" "$run/redis"
  # ADJOINT_NO_BUILD=1: the caller has just built the host (the tests build once for many clusters).
  [ "${ADJOINT_NO_BUILD:-}" = 1 ] || build

  start_redis "$redis_port" || die "redis-server did not start; see $run/logs/redis.log"
  echo "127.0.0.1:$redis_port" >"$run/cluster"

  for i in $(seq 0 $((n - 1))); do start_silo "$i"; done
  for i in $(seq 0 $((n - 1))); do
    wait_silo "$i" || { down; die "silo $i did not start; see $run/logs/silo$i.log"; }
  done
  echo "cluster up: redis 127.0.0.1:$redis_port, $n silos (gateways $gateway_port-$((gateway_port + n - 1))); run folder $run"
  echo "use it with: adjoint grad FILE --cluster $(cat "$run/cluster")"
}

# Sends SIGTERM to the processes of the given pid files, waits up to 15 s, then SIGKILLs what is left.
stop() {
  local pids=()
  for p in "$@"; do
    [ -f "$p" ] || continue
    if alive "$p"; then kill -TERM "$(cat "$p")"; pids+=("$(cat "$p")"); fi
    rm -f "$p"
  done
  for _ in $(seq 150); do
    local left=0
    for pid in "${pids[@]}"; do running "$pid" && left=1; done
    [ $left -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do running "$pid" && kill -KILL "$pid" 2>/dev/null; done
  stopped=$((stopped + ${#pids[@]}))
}

down() {
  [ -d "$run/pids" ] || { echo "nothing to stop in $run"; return 0; }
  stopped=0
  # Silos first (SIGTERM: they leave the membership table gracefully), then Redis.
  stop "$run"/pids/silo*.pid
  stop "$run"/pids/redis.pid
  rm -f "$run/cluster"
  echo "cluster down: stopped $stopped processes"
}

# Stops one silo or Redis if it runs (SIGTERM, SIGKILL after 15 s) and starts it again with the settings
# of the running cluster: the same ports (silo i on $silo_port+i and $gateway_port+i; Redis on the port
# of $run/cluster) and the same data folder. A silo killed earlier is simply started.
restart() {
  local what=${1:-}
  [ -f "$run/cluster" ] || die "no cluster in $run (run '$0 up N' first)"
  mkdir -p "$run/pids" "$run/logs"
  stopped=0
  if [ "$what" = redis ]; then
    stop "$run/pids/redis.pid"
    local port
    port=$(sed 's/.*://' "$run/cluster")
    start_redis "$port" || die "redis-server did not start again; see $run/logs/redis.log"
    echo "redis restarted on 127.0.0.1:$port (stopped $stopped)"
    return 0
  fi
  [[ "$what" =~ ^[0-9]+$ ]] || die "usage: $0 restart N | restart redis"
  [ -f "$run/logs/silo$what.log" ] || die "silo $what was never started from $run"
  stop "$run/pids/silo$what.pid"
  start_silo "$what"
  wait_silo "$what" || die "silo $what did not start again; see $run/logs/silo$what.log"
  echo "silo $what restarted: pid $(cat "$run/pids/silo$what.pid"), silo port $((silo_port + what)), gateway $((gateway_port + what)) (stopped $stopped)"
}

status() {
  compgen -G "$run/pids/*.pid" >/dev/null || { echo "no cluster in $run"; return 0; }
  for p in "$run"/pids/*.pid; do
    printf '%-10s pid %-8s %s\n' "$(basename "$p" .pid)" "$(cat "$p")" "$(alive "$p" && echo running || echo stopped)"
  done
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  restart) restart "${2:-}" ;;
  status) status ;;
  build) build ;;
  *) die "usage: $0 up N | restart N | restart redis | down | status | build" ;;
esac
