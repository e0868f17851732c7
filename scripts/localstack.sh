#!/usr/bin/env bash
# localstack.sh — local Kinesis/DynamoDB emulators on 127.0.0.1 for the KCL MultiLangDaemon.
#
# Usage:
#   scripts/localstack.sh install                      install what is missing (moto, kinesalite, dynalite, h2cproxy, producer)
#   scripts/localstack.sh up [kcl3|kcl1|native|all]    start the emulators (default all: kcl3 and kcl1) and wait until they answer
#   scripts/localstack.sh down                         stop everything this state dir started
#   scripts/localstack.sh status                       show what runs
#   scripts/localstack.sh env [kcl3|kcl1|kcl3-kinesalite|native]   print KINESIS_ENDPOINT=… DYNAMODB_ENDPOINT=… for that KCL
#                                                      (kcl3-kinesalite needs `up all`: KCL 3 with resharding)
#   scripts/localstack.sh create-stream NAME SHARDS [kcl3|kcl1]   create a stream (default kcl3 stack), wait for ACTIVE
#
# Stacks:
#   kcl3: moto_server (Kinesis + DynamoDB, HTTP/1.1) on $MOTO_PORT, h2cproxy (HTTP/2 cleartext → moto) on $H2C_PORT.
#         The KCL 2.x/3.x daemon uses kinesisEndpoint=http://127.0.0.1:$H2C_PORT, dynamoDBEndpoint=http://127.0.0.1:$MOTO_PORT.
#   kcl1: kinesalite on $KINESALITE_PORT, dynalite on $DYNALITE_PORT (KCL 1.x talks HTTP/1.1 to both), and
#         h2cproxy -child-shards (→ kinesalite) on $KINESALITE_PROXY_PORT: it adds the ChildShards field kinesalite
#         leaves out at a closed shard's end, without which no KCL since 1.14 finishes a split shard. The daemon
#         uses kinesisEndpoint=http://127.0.0.1:$KINESALITE_PROXY_PORT, dynamoDBEndpoint=http://127.0.0.1:$DYNALITE_PORT.
#   native: kinesis-local (etspaceman's kinesis-mock, npm) on $KINESIS_LOCAL_PORT (plain HTTP; it returns ChildShards at a
#         closed shard's end), with moto's DynamoDB on $MOTO_PORT and dynalite on $DYNALITE_PORT: the native Go worker's
#         stack (no Java); h2cproxy on $KINESIS_LOCAL_H2C_PORT in front of it for a Java daemon. Resharding takes $KINESIS_LOCAL_RESHARD_DURATION (default 200ms).
#         For enhanced fan-out, h2cproxy -fan-out on $KINESIS_LOCAL_EFO_PORT in front of it: kinesis-local's SubscribeToShard
#         lacks the initial-response event the SDKs need, never ends a closed shard's stream and never ends a subscription;
#         the proxy fixes that (internal/h2c/fanout.go) and ends each subscription after $KINESIS_LOCAL_SUBSCRIPTION_MAX (default 5m, as Kinesis).
#
# Environment (defaults): KINESIS_LOCAL_PORT=4585 KINESIS_LOCAL_TLS_PORT=4586 KINESIS_LOCAL_H2C_PORT=4587 KINESIS_LOCAL_EFO_PORT=4588, MOTO_PORT=4580 H2C_PORT=4581 KINESALITE_PORT=4582 DYNALITE_PORT=4583 KINESALITE_PROXY_PORT=4584,
#   KCLGO_STACK_DIR=<repo>/.cache/stack (pid files and logs; use one per concurrent stack),
#   KCLGO_CACHE=<repo>/.cache, PYTHON=python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${KCLGO_CACHE:-$root/.cache}
state=${KCLGO_STACK_DIR:-$cache/stack}
MOTO_PORT=${MOTO_PORT:-4580}
H2C_PORT=${H2C_PORT:-4581}
KINESALITE_PORT=${KINESALITE_PORT:-4582}
DYNALITE_PORT=${DYNALITE_PORT:-4583}
KINESALITE_PROXY_PORT=${KINESALITE_PROXY_PORT:-4584}
KINESIS_LOCAL_PORT=${KINESIS_LOCAL_PORT:-4585}
KINESIS_LOCAL_TLS_PORT=${KINESIS_LOCAL_TLS_PORT:-4586}
KINESIS_LOCAL_H2C_PORT=${KINESIS_LOCAL_H2C_PORT:-4587}
KINESIS_LOCAL_RESHARD_DURATION=${KINESIS_LOCAL_RESHARD_DURATION:-200ms}
KINESIS_LOCAL_EFO_PORT=${KINESIS_LOCAL_EFO_PORT:-4588}
KINESIS_LOCAL_SUBSCRIPTION_MAX=${KINESIS_LOCAL_SUBSCRIPTION_MAX:-5m}
# shellcheck source=versions.env
source "$here/versions.env"
node_dir=$cache/node
bin_dir=$cache/bin

die() { echo "localstack.sh: $*" >&2; exit 1; }
say() { echo "localstack.sh: $*" >&2; }

python_bin() {
  if [[ -n ${PYTHON:-} ]]; then echo "$PYTHON"
  elif [[ -x $cache/venv/bin/python ]]; then echo "$cache/venv/bin/python"
  else echo python3
  fi
}

moto_ok() {
  "$(python_bin)" - "$MOTO_VERSION" <<'PY' >/dev/null 2>&1
import sys, importlib.metadata as md
import moto.server, flask, werkzeug  # noqa: F401  (moto[server] extras)
sys.exit(0 if md.version("moto") == sys.argv[1] else 1)
PY
}

install_moto() {
  moto_ok && return 0
  command -v python3 >/dev/null 2>&1 || die "python3 not found (apt-get install python3 python3-venv)"
  say "installing moto[server]==$MOTO_VERSION (pip)"
  if [[ -z ${PYTHON:-} ]] && ! [[ -x $cache/venv/bin/python ]] &&
     python3 -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2 && moto_ok; then
    return 0
  fi
  # The system Python refused (e.g. externally managed): use a project-local virtualenv.
  if [[ -z ${PYTHON:-} ]]; then
    [[ -x $cache/venv/bin/python ]] || python3 -m venv "$cache/venv" >&2 || die "python3 -m venv failed (apt-get install python3-venv)"
  fi
  "$(python_bin)" -m pip install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  moto_ok || die "moto $MOTO_VERSION is still not importable by $(python_bin)"
}

install_node() {
  if [[ -f $node_dir/node_modules/kinesalite/package.json && -f $node_dir/node_modules/dynalite/package.json &&
        -f $node_dir/node_modules/kinesis-local/package.json ]] &&
     grep -q "\"version\": \"$KINESALITE_VERSION\"" "$node_dir/node_modules/kinesalite/package.json" &&
     grep -q "\"version\": \"$DYNALITE_VERSION\"" "$node_dir/node_modules/dynalite/package.json" &&
     grep -q "\"version\" *: *\"$KINESIS_LOCAL_VERSION\"" "$node_dir/node_modules/kinesis-local/package.json"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install nodejs npm)"
  say "installing kinesalite@$KINESALITE_VERSION dynalite@$DYNALITE_VERSION kinesis-local@$KINESIS_LOCAL_VERSION into $node_dir (npm)"
  mkdir -p "$node_dir"
  [[ -f $node_dir/package.json ]] || echo '{"name":"kclgo-emulators","private":true}' >"$node_dir/package.json"
  npm install --no-audit --no-fund --loglevel=error --prefix "$node_dir" \
    "kinesalite@$KINESALITE_VERSION" "dynalite@$DYNALITE_VERSION" "kinesis-local@$KINESIS_LOCAL_VERSION" >&2
}

# install_go_tools (re)builds the Go dev tools; go build is quick when nothing changed.
install_go_tools() {
  command -v go >/dev/null 2>&1 || die "go not found"
  mkdir -p "$bin_dir"
  (cd "$root" && go build -o "$bin_dir/h2cproxy" ./scripts/h2cproxy && go build -o "$bin_dir/producer" ./samples/producer)
}

install_all() {
  install_moto
  install_node
  install_go_tools
}

pid_alive() { [[ -f $state/$1.pid ]] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start NAME PORT CMD...: start CMD in its own session, log to $state/NAME.log, wait until PORT answers.
start() {
  local name=$1 port=$2; shift 2
  mkdir -p "$state"
  if pid_alive "$name"; then
    say "$name already running (pid $(cat "$state/$name.pid"))"
    return 0
  fi
  if port_open "$port"; then
    die "port $port for $name is already in use by another process"
  fi
  setsid "$@" >"$state/$name.log" 2>&1 </dev/null &
  echo $! >"$state/$name.pid"
  local i
  for ((i = 0; i < 300; i++)); do
    if port_open "$port"; then
      say "$name up on 127.0.0.1:$port (pid $(cat "$state/$name.pid"))"
      return 0
    fi
    if ! pid_alive "$name"; then
      tail -20 "$state/$name.log" >&2 || true
      die "$name exited during start-up (log: $state/$name.log)"
    fi
    sleep 0.1
  done
  tail -20 "$state/$name.log" >&2 || true
  die "$name did not answer on port $port within 30 s (log: $state/$name.log)"
}

stop() {
  local name=$1 pid i
  [[ -f $state/$name.pid ]] || return 0
  pid=$(cat "$state/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    say "$name stopped"
  fi
  rm -f "$state/$name.pid"
}

up() {
  local which=${1:-all}
  case $which in kcl3|kcl1|native|all) ;; *) die "up: want kcl3, kcl1, native or all, not '$which'" ;; esac
  if [[ $which == native ]]; then
    install_moto
    install_node
    command -v node >/dev/null 2>&1 || die "node not found (apt-get install nodejs)"
    start moto "$MOTO_PORT" "$(python_bin)" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
    start dynalite "$DYNALITE_PORT" env KCLGO_NODE_MODULES="$node_dir/node_modules" node "$here/emulators.js" dynalite "$DYNALITE_PORT"
    # kinesis-mock reads its certificate from its package directory; it listens on all interfaces of the
    # loopback-only test machine. Resharding and stream creation are made quick for the tests.
    start kinesislocal "$KINESIS_LOCAL_PORT" env -C "$node_dir/node_modules/kinesis-local" \
      KINESIS_MOCK_PLAIN_PORT="$KINESIS_LOCAL_PORT" KINESIS_MOCK_TLS_PORT="$KINESIS_LOCAL_TLS_PORT" LOG_LEVEL=WARN \
      CREATE_STREAM_DURATION=100ms SPLIT_SHARD_DURATION="$KINESIS_LOCAL_RESHARD_DURATION" \
      MERGE_SHARDS_DURATION="$KINESIS_LOCAL_RESHARD_DURATION" UPDATE_SHARD_COUNT_DURATION="$KINESIS_LOCAL_RESHARD_DURATION" \
      SHARD_LIMIT=200 node main.js
    install_go_tools
    # For a Java daemon on the same stack (interop tests): the KCL 2.x/3.x Kinesis client speaks HTTP/2.
    start kl2c "$KINESIS_LOCAL_H2C_PORT" "$bin_dir/h2cproxy" -quiet -listen "127.0.0.1:$KINESIS_LOCAL_H2C_PORT" -upstream "http://127.0.0.1:$KINESIS_LOCAL_PORT"
    # For enhanced fan-out clients: SubscribeToShard as Kinesis answers it.
    start klefo "$KINESIS_LOCAL_EFO_PORT" "$bin_dir/h2cproxy" -quiet -fan-out -subscription-max "$KINESIS_LOCAL_SUBSCRIPTION_MAX" \
      -listen "127.0.0.1:$KINESIS_LOCAL_EFO_PORT" -upstream "http://127.0.0.1:$KINESIS_LOCAL_PORT"
    return 0
  fi
  if [[ $which == kcl3 || $which == all ]]; then
    install_moto
    install_go_tools
    start moto "$MOTO_PORT" "$(python_bin)" -m moto.server -H 127.0.0.1 -p "$MOTO_PORT"
    start h2cproxy "$H2C_PORT" "$bin_dir/h2cproxy" -quiet -listen "127.0.0.1:$H2C_PORT" -upstream "http://127.0.0.1:$MOTO_PORT"
  fi
  if [[ $which == kcl1 || $which == all ]]; then
    install_node
    command -v node >/dev/null 2>&1 || die "node not found (apt-get install nodejs)"
    start kinesalite "$KINESALITE_PORT" env KCLGO_NODE_MODULES="$node_dir/node_modules" node "$here/emulators.js" kinesalite "$KINESALITE_PORT"
    start dynalite "$DYNALITE_PORT" env KCLGO_NODE_MODULES="$node_dir/node_modules" node "$here/emulators.js" dynalite "$DYNALITE_PORT"
    install_go_tools
    start kproxy "$KINESALITE_PROXY_PORT" "$bin_dir/h2cproxy" -quiet -child-shards -listen "127.0.0.1:$KINESALITE_PROXY_PORT" -upstream "http://127.0.0.1:$KINESALITE_PORT"
  fi
}

down() {
  local n
  for n in h2cproxy kproxy kl2c klefo kinesislocal moto kinesalite dynalite; do stop "$n"; done
}

status() {
  local n
  for n in moto h2cproxy kinesalite dynalite kproxy kinesislocal kl2c klefo; do
    if pid_alive "$n"; then echo "$n running (pid $(cat "$state/$n.pid"))"; else echo "$n stopped"; fi
  done
}

env_for() {
  case ${1:-kcl3} in
    kcl3) echo "KINESIS_ENDPOINT=http://127.0.0.1:$H2C_PORT"
          echo "KINESIS_ENDPOINT_HTTP1=http://127.0.0.1:$MOTO_PORT"
          echo "DYNAMODB_ENDPOINT=http://127.0.0.1:$MOTO_PORT" ;;
    kcl1) echo "KINESIS_ENDPOINT=http://127.0.0.1:$KINESALITE_PROXY_PORT"
          echo "KINESIS_ENDPOINT_HTTP1=http://127.0.0.1:$KINESALITE_PORT"
          echo "DYNAMODB_ENDPOINT=http://127.0.0.1:$DYNALITE_PORT" ;;
    kcl3-kinesalite)  # KCL 3 that can finish a split shard: kinesalite via the ChildShards proxy, moto's DynamoDB
          echo "KINESIS_ENDPOINT=http://127.0.0.1:$KINESALITE_PROXY_PORT"
          echo "KINESIS_ENDPOINT_HTTP1=http://127.0.0.1:$KINESALITE_PORT"
          echo "DYNAMODB_ENDPOINT=http://127.0.0.1:$MOTO_PORT" ;;
    native)  # the native worker: kinesis-local, and moto's DynamoDB (DYNAMODB_ENDPOINT_DYNALITE: dynalite)
          echo "KINESIS_ENDPOINT=http://127.0.0.1:$KINESIS_LOCAL_H2C_PORT"
          echo "KINESIS_ENDPOINT_HTTP1=http://127.0.0.1:$KINESIS_LOCAL_PORT"
          echo "KINESIS_ENDPOINT_FANOUT=http://127.0.0.1:$KINESIS_LOCAL_EFO_PORT"
          echo "DYNAMODB_ENDPOINT=http://127.0.0.1:$MOTO_PORT"
          echo "DYNAMODB_ENDPOINT_DYNALITE=http://127.0.0.1:$DYNALITE_PORT" ;;
    *) die "env: want kcl3, kcl1, kcl3-kinesalite or native" ;;
  esac
}

create_stream() {
  local name=$1 shards=$2 which=${3:-kcl3} endpoint
  install_go_tools
  case $which in
    kcl3) endpoint=http://127.0.0.1:$MOTO_PORT ;;
    kcl1) endpoint=http://127.0.0.1:$KINESALITE_PORT ;;
    native) endpoint=http://127.0.0.1:$KINESIS_LOCAL_PORT ;;
    *) die "create-stream: want kcl3, kcl1 or native, not '$which'" ;;
  esac
  "$bin_dir/producer" -endpoint "$endpoint" -stream "$name" -create "$shards" -timeout 60s
  say "stream $name ($shards shards) ACTIVE at $endpoint"
}

[[ $# -ge 1 ]] || { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
cmd=$1; shift
case $cmd in
  install) install_all ;;
  up) up "$@" ;;
  down) down ;;
  status) status ;;
  env) env_for "$@" ;;
  create-stream) [[ $# -ge 2 ]] || die "usage: create-stream NAME SHARDS [kcl3|kcl1]"; create_stream "$@" ;;
  *) die "unknown command '$cmd'" ;;
esac
