#!/usr/bin/env bash
# Makes sure a PostgreSQL server runs on 127.0.0.1:5432 with a known
# password, installing it from Debian if needed, and prints its URL.
# Used by .ci/run for the db_queries example; safe to run twice.
set -euo pipefail
log() { echo "postgres.sh: $*" >&2; }

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | grep -q "^$version main$"; then
  log "creating cluster $version/main"
  pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}' | grep -q online; then
  log "starting cluster $version/main"
  pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
# Bounded wait until it accepts connections.
for _ in $(seq 1 50); do
  if su postgres -c "pg_isready -q -h 127.0.0.1 -p $port"; then break; fi
  sleep 0.2
done
su postgres -c "psql -q -p $port -c \"ALTER USER postgres PASSWORD 'gather'\"" >&2
echo "postgres://postgres:gather@127.0.0.1:$port/postgres"
