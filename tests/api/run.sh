#!/usr/bin/env bash
# Runs schemathesis against a fresh upzento-cloud with the demo tenant on a free port: on
# SQLite, or on a new database of the PostgreSQL server PG_URL points at.
# Usage: tests/api/run.sh CLOUD_BINARY PORT [PG_URL]
set -euo pipefail
cloud=${1:?cloud binary}; port=${2:?port}; pg=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
database=()
if [ -n "$pg" ]; then
  db="schemathesis_$(date +%s%N)"
  psql "$pg" -qc "CREATE DATABASE $db"
  database=(--database-url "${pg%/*}/$db")
fi
"$cloud" serve --listen "127.0.0.1:$port" --data-dir "$work" "${database[@]}" --demo >"$work/cloud.log" 2>&1 &
pid=$!
cleanup() {
  kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true
  if [ -n "$pg" ]; then psql "$pg" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 400); do curl -sf -m 1 "$base/healthz" >/dev/null && break; sleep 0.05; done
UPZENTO_TOKEN=$(curl -sf -X POST "$base/phone-sms/auth/token" -H 'content-type: application/json' \
  -d '{"email":"admin@demo.upzento.test","password":"demo-admin-password"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
export UPZENTO_TOKEN
cd "$work"
status=0
schemathesis --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
  --seed 1 --no-color || status=$?
if grep -q "panicked\|ERROR" "$work/cloud.log"; then
  echo "the cloud logged errors during the run:" >&2; grep "panicked\|ERROR" "$work/cloud.log" >&2; status=1
fi
exit $status
