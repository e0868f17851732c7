#!/usr/bin/env bash
# kclpy.sh — make Amazon's amazon-kclpy (pinned) importable without its jars, and print the PYTHONPATH to use.
#
#   scripts/kclpy.sh            fetch if missing; print "<dir>:<dir>/samples" (for PYTHONPATH)
#
# The sdist comes from PyPI through pip (pip's cache makes re-runs fast). It is unpacked, not installed:
# `pip install amazon-kclpy` would download the jars its pom pins from Maven at install time, and this project
# fetches its own daemon jars with scripts/kcl-jars.sh. amazon_kclpy itself needs only the standard library.
# Environment: KCLGO_CACHE (default <repo>/.cache), PYTHON (default python3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${KCLGO_CACHE:-$here/../.cache}
KCLPY_VERSION=3.2.0
dir=$cache/kclpy/amazon_kclpy-$KCLPY_VERSION
py=${PYTHON:-python3}

if [[ ! -f $dir/.complete ]]; then
  command -v "$py" >/dev/null 2>&1 || { echo "kclpy.sh: $py not found" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "kclpy.sh: fetching amazon-kclpy==$KCLPY_VERSION (pip download, sdist only)" >&2
  "$py" -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d "$tmp" "amazon-kclpy==$KCLPY_VERSION" >&2
  mkdir -p "$cache/kclpy"
  rm -rf "$dir"
  tar -xzf "$tmp"/amazon_kclpy-"$KCLPY_VERSION".tar.gz -C "$cache/kclpy"
  [[ -f $dir/samples/sample_kclpy_app.py && -f $dir/amazon_kclpy/kcl.py ]] || { echo "kclpy.sh: unexpected sdist layout in $dir" >&2; exit 1; }
  touch "$dir/.complete"
fi
dir=$(cd "$dir" && pwd)
echo "$dir:$dir/samples"
