#!/usr/bin/env bash
# demo.sh — run a Go record processor under Amazon's real KCL MultiLangDaemon, on this machine, against
# local emulators: build the processor, start the emulators, create a stream, put records, run the daemon,
# show progress until every record was processed, then stop everything.
#
#   bash scripts/demo.sh [--kcl 3|1 | --native] [--records N] [--shards N] [--timeout SECONDS] [--child COMMAND] [--keep]
#
#   --kcl 3       KCL 3.x daemon + moto (Kinesis behind h2cproxy, DynamoDB)          (default)
#   --kcl 1       KCL 1.x daemon + kinesalite + dynalite
#   --native      no Java: the native Go worker (samples/perrecord -native) + kinesis-local + moto's DynamoDB
#   --records N   records to put (default 1000)          --shards N   stream shards (default 4)
#   --timeout S   give up after S seconds (default 240)   --keep       keep .cache/demo/RUN after success
#   --child CMD   the record processor command (default: go build ./samples/batch; while that does not exist
#                 yet, the stand-in ./e2e/testdata/standin)
#
# Exit status 0 when every record was processed, 1 on timeout or failure. Progress goes to stderr.
# Needs java, mvn, python3, node, go (run scripts/setup.sh first on a fresh machine; this script installs
# the emulators and jars itself when they are missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

kcl=3 records=1000 shards=4 timeout=240 child='' keep='' native=''
while [[ $# -gt 0 ]]; do
  case $1 in
    --kcl) kcl=$2; shift 2 ;;
    --native) native=1; shift ;;
    --records) records=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --child) child=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $kcl == 3 || $kcl == 1 ]] || { echo "demo.sh: --kcl must be 3 or 1" >&2; exit 2; }

say() { echo "demo.sh: $*" >&2; }

run=$root/.cache/demo/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$run"
export KCLGO_STACK_DIR=$run/stack
record_log=$run/records.log
daemon_log=$run/daemon.log
daemon_pid=

# Free loopback ports for this run's emulators.
read -r MOTO_PORT H2C_PORT KINESALITE_PORT DYNALITE_PORT KINESALITE_PROXY_PORT KINESIS_LOCAL_PORT KINESIS_LOCAL_TLS_PORT KINESIS_LOCAL_H2C_PORT < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(8)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
)
export MOTO_PORT H2C_PORT KINESALITE_PORT DYNALITE_PORT KINESALITE_PROXY_PORT KINESIS_LOCAL_PORT KINESIS_LOCAL_TLS_PORT KINESIS_LOCAL_H2C_PORT

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    say "stopping the daemon (SIGTERM; graceful shutdown)"
    kill -TERM "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$daemon_pid" 2>/dev/null || true
  fi
  bash "$here/localstack.sh" down >/dev/null 2>&1 || true
  if [[ $rc -eq 0 && -z $keep ]]; then
    rm -rf "$run"
  else
    say "logs kept in $run (daemon.log, records.log, stack/)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The record processor.
if [[ -n $native ]]; then
  if [[ -z $child ]]; then
    say "building ./samples/perrecord (the same binary runs under the daemon or, with -native, alone)"
    go build -o "$run/kclgo-sample" ./samples/perrecord
    child=$run/kclgo-sample
  fi
elif [[ -z $child ]]; then
  if [[ -d $root/samples/batch ]]; then
    say "building ./samples/batch"
    go build -o "$run/kclgo-sample" ./samples/batch
    child=$run/kclgo-sample
  else
    say "samples/batch does not exist yet: using the stand-in ./e2e/testdata/standin"
    go build -o "$run/standin" ./e2e/testdata/standin
    child=$run/standin
  fi
fi

# 2. Jars and emulators.
if [[ -n $native ]]; then
  stack=native
else
  bash "$here/kcl-jars.sh" --kcl "$kcl" fetch
  if [[ $kcl == 3 ]]; then stack=kcl3; else stack=kcl1; fi
fi
bash "$here/localstack.sh" up "$stack"
eval "$(bash "$here/localstack.sh" env "$stack")"

# 3. Stream and records.
stream=demo-$$
app=kclgo-demo-$$
bash "$here/localstack.sh" create-stream "$stream" "$shards" "$stack"
"$root/.cache/bin/producer" -endpoint "$KINESIS_ENDPOINT_HTTP1" -stream "$stream" -count "$records" -aggregated $((records / 2))

# 4. The daemon, or the native worker.
if [[ -n $native ]]; then
  say "starting the native worker (no Java): $(basename "$child") -native"
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    KCLGO_RECORD_LOG=$record_log KCLGO_CHECKPOINT_SECONDS=${KCLGO_CHECKPOINT_SECONDS:-1} \
    setsid "$child" -native -stream "$stream" -app "$app" -kinesis-endpoint "$KINESIS_ENDPOINT_HTTP1" \
      -dynamodb-endpoint "$DYNAMODB_ENDPOINT" -failover 3s -idle 200ms -parent-poll 1s >"$daemon_log" 2>&1 </dev/null &
  daemon_pid=$!
else
props=$run/app.properties
{
  echo "executableName = $child"
  echo "streamName = $stream"
  echo "applicationName = $app"
  echo "AWSCredentialsProvider = EnvironmentVariableCredentialsProvider"
  echo "regionName = us-east-1"
  echo "kinesisEndpoint = $KINESIS_ENDPOINT"
  echo "dynamoDBEndpoint = $DYNAMODB_ENDPOINT"
  echo "initialPositionInStream = TRIM_HORIZON"
  echo "metricsLevel = NONE"
  echo "maxRecords = 1000"
  echo "idleTimeBetweenReadsInMillis = 200"
  echo "failoverTimeMillis = 3000"
  echo "shardSyncIntervalMillis = 1000"
  echo "parentShardPollIntervalMillis = 1000"
  echo "shutdownGraceMillis = 5000"
  if [[ $kcl == 3 ]]; then
    echo "retrievalMode = POLLING"
    echo "leaseAssignmentIntervalMillis = 1000"
    echo "workerMetricsReporterFreqInMillis = 1000"
  fi
} >"$props"
say "starting the KCL $kcl daemon (a fresh application waits a random 1-30 s before taking leases)"
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
  KCLGO_RECORD_LOG=$record_log KCLGO_CHECKPOINT_SECONDS=${KCLGO_CHECKPOINT_SECONDS:-1} \
  setsid bash "$here/kcl-jars.sh" --kcl "$kcl" run "$props" >"$daemon_log" 2>&1 </dev/null &
daemon_pid=$!
fi

# 5. Progress.
began=$SECONDS
consumed=0
while :; do
  if [[ -f $record_log ]]; then
    consumed=$(awk -F'\t' '$1 == "R" { seen[$3] = 1 } END { print length(seen) }' "$record_log")
  fi
  printf '\rdemo.sh: %d / %d records consumed (%d s)' "$consumed" "$records" "$((SECONDS - began))" >&2
  if [[ $consumed -ge $records ]]; then
    echo >&2
    say "all $records records consumed in $((SECONDS - began)) s"
    break
  fi
  if ! kill -0 "$daemon_pid" 2>/dev/null; then
    echo >&2
    tail -20 "$daemon_log" >&2
    say "the consumer exited before every record was consumed"
    exit 1
  fi
  if [[ $((SECONDS - began)) -ge $timeout ]]; then
    echo >&2
    say "timed out after $timeout s with $consumed / $records records"
    exit 1
  fi
  sleep 1
done

# 6. Checkpoints: wait (up to 15 s) until each shard's last checkpoint is at its last record, then stop.
# (A SIGTERM while a processRecords is still running makes its checkpoint fail with ShutdownException.)
checkpoint_report() {
  awk -F'\t' '$1 == "R" { last[$2] = $4 } $1 == "C" { cp[$2] = ($3 == "" ? "SHARD_END/null" : $3) }
    END { ok = 1; for (s in last) { printf "  %s: last record %s, checkpoint %s\n", s, last[s], (s in cp ? cp[s] : "none"); if (cp[s] != last[s]) ok = 0 }
          exit ok ? 0 : 3 }' "$record_log"
}
for _ in $(seq 1 15); do
  checkpoint_report >/dev/null && break
  sleep 1
done
say "per shard (from $(basename "$record_log")):"
checkpoint_report >&2 || say "(not every shard has checkpointed its last record: the processor checkpoints on its own schedule)"
exit 0
