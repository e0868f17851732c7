#!/usr/bin/env bash
# demo.sh — the main job: run the sample record processor (samples/batch) under Amazon's real KCL
# MultiLangDaemon on this machine, against local emulators, with `kclgo local`: it starts the emulators,
# creates a stream, puts the records, runs the daemon with the sample as its child, shows per-shard progress
# read from the protocol, and stops everything.
#
#   bash scripts/demo.sh [--kcl 3|1 | --native] [--records N] [--shards N] [--timeout SECONDS] [--child COMMAND] [--keep]
#
#   --kcl 3       KCL 3.x daemon + moto (Kinesis behind the h2c proxy, DynamoDB)    (default)
#   --kcl 1       KCL 1.x daemon + kinesalite + dynalite
#   --native      no Java: the native worker (samples/perrecord -native) + kinesis-local + moto (scripts/demo-native.sh)
#   --records N   records to put (default 1000)          --shards N   stream shards (default 4)
#   --timeout S   give up after S seconds (default 240)   --keep       keep the run's logs after success
#   --child CMD   the record processor command, split on spaces (default: go build ./samples/batch)
#
# Exit status 0 when every record was delivered and checkpointed, 1 otherwise (the report names the shard).
# When java or mvn is missing it runs scripts/setup.sh first (apt-get); kclgo local installs the emulators
# (pip, npm) and fetches the jars (Maven) itself. Jars, emulators and run folders live in $KCLGO_CACHE
# (default <repo>/.cache).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

kcl=3 records=1000 shards=4 timeout=240 child='' keep=()
for a in "$@"; do
  [[ $a == --native ]] || continue
  args=()
  for b in "$@"; do [[ $b == --native ]] || args+=("$b"); done
  exec bash "$here/demo-native.sh" ${args[@]+"${args[@]}"}
done
while [[ $# -gt 0 ]]; do
  case $1 in
    --kcl) kcl=$2; shift 2 ;;
    --records) records=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --child) child=$2; shift 2 ;;
    --keep) keep=(--keep); shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "demo.sh: $*" >&2; }

if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  say "java or mvn missing: running scripts/setup.sh"
  bash "$here/setup.sh"
fi
export KCLGO_CACHE=${KCLGO_CACHE:-$root/.cache}
mkdir -p "$KCLGO_CACHE/bin"
go build -o "$KCLGO_CACHE/bin/kclgo" ./cmd/kclgo
if [[ -z $child ]]; then
  say "building ./samples/batch"
  go build -o "$KCLGO_CACHE/bin/kclgo-sample" ./samples/batch
  child=$KCLGO_CACHE/bin/kclgo-sample
fi
read -r -a child_argv <<<"$child"

# The sample checkpoints at most once a second (at a batch's end), and in shutdownRequested.
export KCLGO_CHECKPOINT_SECONDS=${KCLGO_CHECKPOINT_SECONDS:-1}
exec "$KCLGO_CACHE/bin/kclgo" local --kcl "$kcl" --records "$records" --shards "$shards" --timeout "${timeout}s" \
  ${keep[@]+"${keep[@]}"} -- "${child_argv[@]}"
