#!/usr/bin/env bash
# setup.sh — install everything the end-to-end tests and scripts/demo.sh need. Idempotent; a warm re-run
# only checks (Maven's ~/.m2, pip's and npm's caches make a fresh clone's first run quick too).
#
#   bash scripts/setup.sh
#
# Installs when missing: Java (>= 11) and Maven (apt-get), the KCL 3.x, 2.x and 1.x daemon jars (Maven, into
# .cache/jars), moto[server] (pip), kinesalite + dynalite (npm, into .cache/node), amazon-kclpy's sdist
# (pip download, into .cache/kclpy), and builds h2cproxy and the producer (into .cache/bin).
# Environment: KCLGO_SKIP_APT=1 never calls apt-get.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
start=$SECONDS

say() { echo "setup.sh: $*" >&2; }

apt_updated=
apt_install() {
  if [[ -n ${KCLGO_SKIP_APT:-} ]]; then
    say "missing: $* (KCLGO_SKIP_APT is set; install it yourself)"
    return 1
  fi
  command -v apt-get >/dev/null 2>&1 || { say "missing: $* (no apt-get here; install it yourself)"; return 1; }
  local sudo=
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  if [[ -z $apt_updated ]]; then
    $sudo apt-get update -qq >&2
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}

java_major() {
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)
  [[ $v == 1.* ]] && v=${v#1.}
  echo "${v%%[.+-]*}"
}

# Java 11+ (the daemon targets 8; 11+ keeps logback and the AWS SDK happy) and Maven.
if ! command -v java >/dev/null 2>&1 || [[ $(java_major) -lt 11 ]]; then
  apt_install openjdk-17-jre-headless
fi
command -v mvn >/dev/null 2>&1 || apt_install maven
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip python3-venv
command -v node >/dev/null 2>&1 || apt_install nodejs npm
command -v go >/dev/null 2>&1 || { say "go not found: install Go 1.24+ (the module needs go $(sed -n 's/^go //p' go.mod))"; exit 1; }

bash "$here/kcl-jars.sh" --kcl 3 fetch
bash "$here/kcl-jars.sh" --kcl 2 fetch
bash "$here/kcl-jars.sh" --kcl 1 fetch
bash "$here/localstack.sh" install
bash "$here/kclpy.sh" >/dev/null

say "ready in $((SECONDS - start)) s: java $(java_major), $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g'), $(python3 --version), node $(node --version)"
