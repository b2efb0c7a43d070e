#!/bin/sh
# postgres-setup.sh starts the local PostgreSQL server and makes the role and
# database the store's conformance tests use, then prints the DSN to export as
# TURNKEY_TEST_POSTGRES_DSN. It is idempotent and must run as root (it talks to
# the server as the postgres superuser over the local socket).
#
#   export TURNKEY_TEST_POSTGRES_DSN="$(sh credentials/store/postgres-setup.sh)"
#   go test -race ./credentials/store/...
#
# Only the DSN goes to stdout, so the command substitution above works;
# progress goes to stderr.
set -eu

role=turnkey
password=turnkey
database=turnkey_test
host=127.0.0.1
port=5432
deadline_seconds=${TURNKEY_PG_START_TIMEOUT:-60}

log() { echo "postgres-setup: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
	log "must run as root"
	exit 1
fi

# As the postgres superuser, from / so psql does not warn about the cwd.
admin_psql() {
	(cd / && runuser -u postgres -- psql -X -q -t -A -v ON_ERROR_STOP=1 "$@")
}

if pg_isready -q -h "$host" -p "$port"; then
	log "server already accepting connections on $host:$port"
else
	log "starting postgresql"
	service postgresql start >&2
	deadline=$(($(date +%s) + deadline_seconds))
	until pg_isready -q -h "$host" -p "$port"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			log "server not ready on $host:$port after ${deadline_seconds}s"
			exit 1
		fi
		sleep 0.5
	done
	log "server ready on $host:$port"
fi

if [ "$(admin_psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" = 1 ]; then
	# Re-assert the attributes so a role made by hand ends up as the tests
	# expect.
	admin_psql -c "ALTER ROLE $role WITH LOGIN CREATEDB PASSWORD '$password'"
else
	log "creating role $role"
	admin_psql -c "CREATE ROLE $role WITH LOGIN CREATEDB PASSWORD '$password'"
fi

if [ "$(admin_psql -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" = 1 ]; then
	log "database $database exists"
else
	log "creating database $database"
	admin_psql -c "CREATE DATABASE $database OWNER $role"
fi

echo "postgres://$role:$password@$host:$port/$database?sslmode=disable"
