#!/usr/bin/env bash
# kcl-jars.sh — fetch Amazon's KCL MultiLangDaemon jars with Maven and print or run the java command line.
#
# Usage:
#   scripts/kcl-jars.sh [--kcl 3|2|1] fetch             fetch the jars (no-op when they are there)
#   scripts/kcl-jars.sh [--kcl 3|2|1] dir               print the jars folder
#   scripts/kcl-jars.sh [--kcl 3|2|1] command PROPS     print the java command line (shell-quoted, one line)
#   scripts/kcl-jars.sh [--kcl 3|2|1] args PROPS        print the java command line, one argument per line
#   scripts/kcl-jars.sh [--kcl 3|2|1] run PROPS         fetch if needed, then exec the daemon
#
# --kcl 3 (default): software.amazon.kinesis:amazon-kinesis-client-multilang (version in scripts/pom.xml)
# --kcl 2:           amazon-kinesis-client-multilang 2.7.2 with its dependencies named by hand (its POM is not served)
# --kcl 1:           com.amazonaws:amazon-kinesis-client 1.15.x (multilang inside)
#
# Environment: KCLGO_CACHE (default <repo>/.cache), JAVA (default: java on PATH), MVN (default: mvn),
# KCL_LOG_LEVEL (daemon root log level for 3.x, default INFO), KCL_JAVA_OPTS (extra JVM flags, split on spaces).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${KCLGO_CACHE:-$root/.cache}
java_bin=${JAVA:-java}
mvn_bin=${MVN:-mvn}
kcl=3

die() { echo "kcl-jars.sh: $*" >&2; exit 1; }

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --kcl) [[ $# -ge 2 ]] || usage; kcl=$2; shift 2 ;;
    --kcl=*) kcl=${1#--kcl=}; shift ;;
    -h|--help) usage ;;
    *) break ;;
  esac
done
[[ $kcl == 3 || $kcl == 2 || $kcl == 1 ]] || die "--kcl must be 3, 2 or 1, not '$kcl'"
[[ $# -ge 1 ]] || usage
cmd=$1; shift

jars=$cache/jars/kcl$kcl

# java_major prints the major version of $java_bin (8 for 1.8.x), or fails.
java_major() {
  local v
  command -v "$java_bin" >/dev/null 2>&1 || return 1
  v=$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)
  [[ -n $v ]] || return 1
  if [[ $v == 1.* ]]; then v=${v#1.}; fi
  echo "${v%%[.+-]*}"
}

check_java() {
  local m
  m=$(java_major) || die "java not found (need Java 8 or newer; run scripts/setup.sh, or apt-get install openjdk-17-jre-headless)"
  [[ $m -ge 8 ]] || die "java $m is too old (need 8 or newer)"
}

check_mvn() {
  local v major minor
  command -v "$mvn_bin" >/dev/null 2>&1 || die "mvn not found (need Maven 3.6+; run scripts/setup.sh, or apt-get install maven)"
  v=$("$mvn_bin" -v 2>/dev/null | sed -n 's/.*Apache Maven \([0-9][0-9.]*\).*/\1/p' | head -1)
  [[ -n $v ]] || die "cannot read the Maven version from '$mvn_bin -v'"
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  if [[ $major -lt 3 || ( $major -eq 3 && $minor -lt 6 ) ]]; then
    die "Maven $v is too old (need 3.6+)"
  fi
}

fetch() {
  if [[ -f $jars/.complete ]]; then
    return 0
  fi
  check_java
  check_mvn
  echo "kcl-jars.sh: fetching KCL $kcl jars into $jars (Maven, ~/.m2 cache)" >&2
  rm -rf "$jars.tmp"
  mkdir -p "$jars.tmp"
  if ! "$mvn_bin" -B -q -f "$here/pom.xml" -P "kcl$kcl" dependency:copy-dependencies -Djars.dir="$jars.tmp" >&2; then
    rm -rf "$jars.tmp"
    die "Maven failed to fetch the KCL $kcl jars"
  fi
  rm -rf "$jars"
  mv "$jars.tmp" "$jars"
  touch "$jars/.complete"
  echo "kcl-jars.sh: $(find "$jars" -name '*.jar' | wc -l) jars in $jars" >&2
}

# java_args PROPS prints the daemon's java command line, one argument per line.
java_args() {
  local props=$1 pdir pabs
  [[ -f $props ]] || die "properties file '$props' not found"
  pdir=$(cd "$(dirname "$props")" && pwd)
  pabs=$pdir/$(basename "$props")
  local -a extra=()
  if [[ -n ${KCL_JAVA_OPTS:-} ]]; then
    read -r -a extra <<<"$KCL_JAVA_OPTS"
  fi
  if [[ $kcl == 3 || $kcl == 2 ]]; then
    printf '%s\n' "$java_bin" -Daws.cborEnabled=false ${extra[@]+"${extra[@]}"} \
      -cp "$jars/*:$pdir" software.amazon.kinesis.multilang.MultiLangDaemon \
      --properties-file "$pabs" --log-configuration "$here/logback.xml"
  else
    printf '%s\n' "$java_bin" -Dcom.amazonaws.sdk.disableCbor=true \
      -Djava.util.logging.config.file="$here/logging.properties" ${extra[@]+"${extra[@]}"} \
      -cp "$jars/*:$pdir" com.amazonaws.services.kinesis.multilang.MultiLangDaemon "$pabs"
  fi
}

if [[ $cmd == args || $cmd == command || $cmd == run ]]; then
  [[ $# -eq 1 ]] || usage
  [[ -f $1 ]] || die "properties file '$1' not found"
fi

case $cmd in
  fetch) fetch ;;
  dir) echo "$jars" ;;
  args)
    java_args "$1" ;;
  command)
    mapfile -t a < <(java_args "$1")
    printf '%q ' "${a[@]}"; echo ;;
  run)
    fetch
    check_java
    mapfile -t a < <(java_args "$1")
    exec "${a[@]}" ;;
  *) usage ;;
esac
