#!/usr/bin/env bash
# demo-native.sh — the main job without Java (demo.sh --native runs it): the sample record processor
# (samples/perrecord) run natively by package worker, against local emulators: kinesis-local (npm) for
# Kinesis and moto (PyPI) for DynamoDB on free loopback ports. It creates a stream, puts the records (half
# KPL-aggregated), starts `perrecord -native`, shows progress until every record was processed, stops the
# worker gracefully (its processors checkpoint, its leases are released) and reports each shard's last
# record and checkpoint from the sample's record log.
#
#   bash scripts/demo-native.sh [--records N] [--shards N] [--timeout SECONDS] [--keep]
#
# Exit status 0 when every record was processed and every shard checkpointed its last record, 1 otherwise.
# Needs python3, node/npm and go; localstack.sh installs moto and kinesis-local when they are missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

records=1000 shards=4 timeout=240 keep=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --records) records=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo-native.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "demo-native.sh: $*" >&2; }

export KCLGO_CACHE=${KCLGO_CACHE:-$root/.cache}
run=$KCLGO_CACHE/demo/native-$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$run"
export KCLGO_STACK_DIR=$run/stack
record_log=$run/records.log
worker_log=$run/worker.log
worker_pid=

# Free loopback ports for this run's emulators.
read -r MOTO_PORT DYNALITE_PORT KINESIS_LOCAL_PORT KINESIS_LOCAL_TLS_PORT KINESIS_LOCAL_H2C_PORT KINESIS_LOCAL_EFO_PORT < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
export MOTO_PORT DYNALITE_PORT KINESIS_LOCAL_PORT KINESIS_LOCAL_TLS_PORT KINESIS_LOCAL_H2C_PORT KINESIS_LOCAL_EFO_PORT

stop_worker() {
  if [[ -n $worker_pid ]] && kill -0 "$worker_pid" 2>/dev/null; then
    say "stopping the worker (SIGTERM: its processors checkpoint, its leases are released)"
    kill -TERM "$worker_pid" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$worker_pid" 2>/dev/null || true
  fi
  worker_pid=
}

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_worker
  bash "$here/localstack.sh" down >/dev/null 2>&1 || true
  if [[ $rc -eq 0 && -z $keep ]]; then
    rm -rf "$run"
  else
    say "logs kept in $run (worker.log, records.log, stack/)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building ./samples/perrecord (the same binary runs under the daemon or, with -native, alone)"
go build -o "$run/perrecord" ./samples/perrecord
go build -o "$run/producer" ./samples/producer
bash "$here/localstack.sh" up native
eval "$(bash "$here/localstack.sh" env native)"

stream=demo-$$
app=kclgo-demo-$$
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
"$run/producer" -endpoint "$KINESIS_ENDPOINT_HTTP1" -stream "$stream" -create "$shards" -count "$records" -aggregated $((records / 2))

say "starting the native worker (no Java): perrecord -native -stream $stream -app $app"
began=$SECONDS
KCLGO_RECORD_LOG=$record_log KCLGO_CHECKPOINT_SECONDS=${KCLGO_CHECKPOINT_SECONDS:-1} \
  "$run/perrecord" -native -stream "$stream" -app "$app" -kinesis-endpoint "$KINESIS_ENDPOINT_HTTP1" \
    -dynamodb-endpoint "$DYNAMODB_ENDPOINT" -failover 3s -idle 200ms -parent-poll 1s >"$worker_log" 2>&1 </dev/null &
worker_pid=$!

consumed=0
while :; do
  if [[ -f $record_log ]]; then
    consumed=$(awk -F'\t' '$1 == "R" { seen[$3] = 1 } END { print length(seen) }' "$record_log")
  fi
  printf '\rdemo-native.sh: %d / %d records consumed (%d s)' "$consumed" "$records" "$((SECONDS - began))" >&2
  if [[ $consumed -ge $records ]]; then
    echo >&2
    say "all $records records consumed in $((SECONDS - began)) s"
    break
  fi
  if ! kill -0 "$worker_pid" 2>/dev/null; then
    echo >&2
    tail -20 "$worker_log" >&2
    say "the worker exited before every record was consumed"
    exit 1
  fi
  if [[ $((SECONDS - began)) -ge $timeout ]]; then
    echo >&2
    say "timed out after $timeout s with $consumed / $records records"
    exit 1
  fi
  sleep 1
done

# The report comes after the graceful shutdown, where the sample checkpoints its last record.
stop_worker
say "per shard (from the sample's record log):"
awk -F'\t' '$1 == "R" { last[$2] = $4 } $1 == "C" { cp[$2] = ($3 == "" ? "SHARD_END" : $3) }
  END { ok = 1; for (s in last) { printf "  %s: last record %s, checkpoint %s\n", s, last[s], (s in cp ? cp[s] : "none"); if (cp[s] != last[s]) ok = 0 }
        exit ok ? 0 : 1 }' "$record_log" >&2 || { say "a shard did not checkpoint its last record"; exit 1; }
