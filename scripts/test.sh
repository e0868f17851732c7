#!/usr/bin/env bash
# The project's test command (README, .ci/run): install what the tests need,
# then check formatting, vet, staticcheck (pinned) and file sizes, and run
# every test with the race detector.
#
# Environment: KCLGO_CACHE (default <repo>/.cache): staticcheck is installed
# into $KCLGO_CACHE/bin, from the Go module proxy, when that is not the
# pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache=${KCLGO_CACHE:-$root/.cache}

# staticcheck's version: one place. Release 2026.2.2 is module version
# v0.8.2 (the proxy knows only the latter). A newer release may add checks;
# raise both on purpose, with its findings fixed in the same change.
staticcheck_release=2026.2.2
staticcheck_module=v0.8.2
# No non-test Go file longer than this (small files, one concern each).
max_lines=600

if [ -f scripts/setup.sh ]; then
  bash scripts/setup.sh
fi

go_files=$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')

unformatted=$(gofmt -l $go_files)
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

long=$(for f in $go_files; do
  case $f in *_test.go) continue ;; esac
  n=$(wc -l <"$f")
  if [ "$n" -gt "$max_lines" ]; then echo "$f: $n lines"; fi
done)
if [ -n "$long" ]; then
  echo "non-test Go files over $max_lines lines (split them by concern):" >&2
  echo "$long" >&2
  exit 1
fi

go vet ./...

staticcheck=$cache/bin/staticcheck
if ! "$staticcheck" -version 2>/dev/null | grep -q "^staticcheck $staticcheck_release "; then
  echo "test.sh: installing staticcheck $staticcheck_release into $cache/bin" >&2
  GOBIN=$cache/bin go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_module"
fi
"$staticcheck" ./...

go test -race -timeout 60m ./...
