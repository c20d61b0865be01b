#!/usr/bin/env bash
# The scaled install of docs/scaling.md, on one machine:
#   a Prefect server on PostgreSQL, a process work pool served by two workers,
#   the deployments of prefect.yaml, and dondoc on PostgreSQL.
#
#   scripts/scaled.sh up        start everything (idempotent databases; prints the URLs)
#   scripts/scaled.sh down      stop the server and the workers
#   scripts/scaled.sh status    what is running
#
# Settings (environment, with defaults):
#   PG=postgresql://postgres@127.0.0.1:5432   the PostgreSQL server (trust authentication here)
#   PREFECT_DB=dondoc_prefect  DONDOC_DB=dondoc   the two databases, created when missing
#   PREFECT_PORT=4200   WORKERS=2   WORKER_LIMIT=4   SCALED_STATE=.dondoc/scaled
#   PREFECT_API_AUTH_STRING   the API's basic-auth credential, "user:password"; unset: the one kept in
#                             $SCALED_STATE/prefect-auth (mode 600), generated on the first `up`
#   DONDOC_* settings (SMTP, public URL, secret key, …) pass through to the workers.
#
# The server listens on 127.0.0.1 only and refuses every API request without the credential
# (GET /api/health and /api/ready excepted). The credential goes to the server, the CLI and the
# workers through the environment, never on a command line, and is never printed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$ROOT/.venv/bin}
PG=${PG:-postgresql://postgres@127.0.0.1:5432}
PREFECT_DB=${PREFECT_DB:-dondoc_prefect}
DONDOC_DB=${DONDOC_DB:-dondoc}
PREFECT_PORT=${PREFECT_PORT:-4200}
WORKERS=${WORKERS:-2}
WORKER_LIMIT=${WORKER_LIMIT:-4}
STATE=${SCALED_STATE:-$ROOT/.dondoc/scaled}
API=http://127.0.0.1:$PREFECT_PORT/api
AUTH_FILE=$STATE/prefect-auth

export PREFECT_HOME=$STATE/prefect-home
export PREFECT_API_URL=$API
export PREFECT_UI_API_URL=$API
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export DONDOC_DATABASE_URL=${PG/postgresql:/postgresql+psycopg:}/$DONDOC_DB
export DONDOC_HOME=$ROOT   # prefect.yaml's pull step: the workers run the flows from this checkout

say() { printf '%s\n' "$*" >&2; }

use_credential() {
  # An API key would win over the auth string and be refused by a self-hosted server (Prefect's docs).
  unset PREFECT_API_KEY
  CREDENTIAL="the auth string you gave in PREFECT_API_AUTH_STRING"
  if [ -z "${PREFECT_API_AUTH_STRING:-}" ]; then
    CREDENTIAL="the auth string in $AUTH_FILE"
    if [ ! -s "$AUTH_FILE" ]; then
      # Written by the redirection under umask 077: the secret is on no command line and in no log.
      (umask 077 && "$BIN/python" -c 'import secrets; print("dondoc:" + secrets.token_urlsafe(32))' >"$AUTH_FILE")
    fi
    chmod 600 "$AUTH_FILE"
    PREFECT_API_AUTH_STRING=$(<"$AUTH_FILE")
  fi
  export PREFECT_API_AUTH_STRING
  export PREFECT_SERVER_API_AUTH_STRING=$PREFECT_API_AUTH_STRING
}

create_databases() {
  "$BIN/python" - "$PG" "$PREFECT_DB" "$DONDOC_DB" <<'EOF'
import sys
import psycopg
from psycopg import sql

server, *names = sys.argv[1:]
try:
    with psycopg.connect(server + "/postgres", autocommit=True, connect_timeout=5) as conn:
        for name in names:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
except psycopg.OperationalError as exc:
    sys.exit(f"scaled.sh: no PostgreSQL at {server}: {str(exc).strip().splitlines()[0]}")
EOF
}

wait_for_api() {
  for _ in $(seq 1 240); do
    if "$BIN/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=2)" "$API/health" 2>/dev/null; then
      return 0
    fi
    kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null || { say "scaled.sh: the Prefect server stopped; see $STATE/server.log"; exit 1; }
    sleep 0.5
  done
  say "scaled.sh: the Prefect server did not answer at $API; see $STATE/server.log"
  exit 1
}

start() {  # name, log, command…: run in the background, keep its pid
  local name=$1 log=$2; shift 2
  nohup "$@" >"$log" 2>&1 &
  echo $! >"$STATE/$name.pid"
}

up() {
  mkdir -p "$STATE" "$PREFECT_HOME"
  [ -x "$BIN/dondoc" ] || { say "scaled.sh: run 'make install' first (no $BIN/dondoc)"; exit 1; }
  if [ -f "$STATE/server.pid" ] && kill -0 "$(cat "$STATE/server.pid")" 2>/dev/null; then
    say "scaled.sh: already up (scripts/scaled.sh down stops it)"; exit 1
  fi
  create_databases
  use_credential
  PREFECT_SERVER_DATABASE_CONNECTION_URL=${PG/postgresql:/postgresql+asyncpg:}/$PREFECT_DB \
    start server "$STATE/server.log" "$BIN/prefect" server start --host 127.0.0.1 --port "$PREFECT_PORT"
  "$BIN/dondoc" db upgrade
  wait_for_api
  "$BIN/prefect" --no-prompt work-pool create dondoc --type process --overwrite >/dev/null
  "$BIN/prefect" --no-prompt deploy --all >"$STATE/deploy.log" 2>&1 || { cat "$STATE/deploy.log" >&2; exit 1; }
  for i in $(seq 1 "$WORKERS"); do
    start "worker-$i" "$STATE/worker-$i.log" \
      "$BIN/prefect" worker start --pool dondoc --name "dondoc-worker-$i" --limit "$WORKER_LIMIT"
  done
  say "Prefect server (PostgreSQL $PREFECT_DB): $API — UI http://127.0.0.1:$PREFECT_PORT (it asks for $CREDENTIAL)"
  say "dondoc database: $DONDOC_DATABASE_URL"
  say "$WORKERS process workers on pool 'dondoc'; logs in $STATE"
  say "Use it:  export PREFECT_API_URL=$API DONDOC_DATABASE_URL=$DONDOC_DATABASE_URL"
  if [ "$CREDENTIAL" = "the auth string in $AUTH_FILE" ]; then
    say "         export PREFECT_API_AUTH_STRING=\"\$(cat '$AUTH_FILE')\""
  else
    say "         with PREFECT_API_AUTH_STRING as you gave it"
  fi
}

stop() {  # pidfile, seconds of grace before SIGKILL
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(($2 * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

down() {
  # Prefect 3.9's process worker logs SIGTERM and then often keeps running (seen here): it gets 10 s.
  # The flow runs it started are processes of their own and finish regardless.
  for file in "$STATE"/worker-*.pid; do stop "$file" 10 & done
  wait
  stop "$STATE/server.pid" 30
  say "scaled.sh: stopped"
}

status() {
  local any=0
  for file in "$STATE"/server.pid "$STATE"/worker-*.pid; do
    [ -f "$file" ] || continue
    any=1
    if kill -0 "$(cat "$file")" 2>/dev/null; then echo "$(basename "$file" .pid): running"; else echo "$(basename "$file" .pid): stopped"; fi
  done
  [ $any = 1 ] || echo "nothing started from $STATE"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) say "usage: scripts/scaled.sh up|down|status"; exit 2 ;;
esac
