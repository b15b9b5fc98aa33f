#!/bin/sh
# The image's entrypoint: its first argument chooses what the container runs.
#
#   app [STREAMLIT OPTIONS]  the web app on 0.0.0.0:8501 (the default); in demo mode
#                            (RECON_DEMO=1) it seeds the demo month first when the store is empty
#   api [API OPTIONS]        the HTTP API on 0.0.0.0:8000 (options as `python -m core api`)
#   worker                   the scheduled pipelines (python -m core worker)
#   migrate                  bring the store's schema to the newest migration, then stop
#   health                   the HEALTHCHECK: asks what this container serves whether it is well
#   anything else            run as given: `python -m core demo --if-empty`, `sh`, ...
#
# Every server records how to ask it for its health under /tmp/recon-health, then replaces this
# shell (exec): it receives the container's signals itself (the worker finishes its runs on SIGTERM).
set -eu

health_dir=/tmp/recon-health

# The value of option $1 (`--opt VALUE` or `--opt=VALUE`) among the rest of the arguments, or $2.
option() {
  name=$1 value=$2
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      "$name") [ $# -gt 1 ] && value=$2 ;;
      "$name"=*) value=${1#*=} ;;
    esac
    shift
  done
  echo "$value"
}

# Record how `health` checks this server: a URL it must answer with 200, or `pid N`.
record_health() {
  mkdir -p "$health_dir"
  echo "$2" > "$health_dir/$1"
}

role=${1:-app}
[ $# -gt 0 ] && shift
case $role in
  app)
    if [ "${RECON_DEMO:-}" = 1 ]; then
      python -m core demo --if-empty
    fi
    port=$(option --server.port 8501 "$@")
    record_health app "http://127.0.0.1:$port/_stcore/health"
    exec python -m streamlit run Home.py --server.address 0.0.0.0 --server.port 8501 "$@"
    ;;
  api)
    port=$(option --port 8000 "$@")
    record_health api "http://127.0.0.1:$port/api/v1/health/db"
    exec python -m core api --host 0.0.0.0 --port 8000 "$@"
    ;;
  worker)
    record_health worker "pid $$"
    exec python -m core worker "$@"
    ;;
  migrate)
    exec python -m core migrate "$@"
    ;;
  health)
    found=0
    for file in "$health_dir"/*; do
      [ -f "$file" ] || continue
      found=1
      read -r check < "$file"
      case $check in
        pid\ *)
          kill -0 "${check#pid }" 2>/dev/null || { echo "$(basename "$file"): its process is gone" >&2; exit 1; }
          ;;
        *)
          python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$check" \
            || { echo "$(basename "$file"): $check does not answer" >&2; exit 1; }
          ;;
      esac
    done
    [ "$found" = 1 ] || { echo "nothing started here to check (app, api or worker)" >&2; exit 1; }
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
