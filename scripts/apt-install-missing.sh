#!/usr/bin/env bash
# Install the Debian packages named as arguments (the callers name only what is missing), as
# root or through sudo. `--optional` first: when they cannot be installed here (no apt-get, no
# sudo), say so and carry on instead of failing.
set -euo pipefail

optional=0
if [ "${1:-}" = "--optional" ]; then
  optional=1
  shift
fi
[ $# -eq 0 ] && exit 0

cannot() {
  echo "missing system packages: $* (install them with your package manager)" >&2
  exit $((1 - optional))
}
command -v apt-get >/dev/null || cannot "$@"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || cannot "$@"
  sudo="sudo"
fi
echo "installing system packages: $*"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
