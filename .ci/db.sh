#!/bin/sh
# db.sh starts and stops throw-away MariaDB and PostgreSQL servers on
# loopback for the store tests, in a temp dir, never touching a system
# instance.
#
#   .ci/db.sh start   install (when root and missing), start both servers, create the
#                     test databases, write $DBDIR/env and print the export lines
#   .ci/db.sh stop    stop both servers and delete their data
#   .ci/db.sh env     print the export lines of the running servers
#
# Use:  eval "$(.ci/db.sh start)"; go test ./internal/store/...; .ci/db.sh stop
# wcbtest_outage (WEBCALLBACK_TEST_*_OUTAGE) is for the tests that make a
# database refuse writes. The wcbbench databases (WEBCALLBACK_BENCH_*) are for the store benchmarks,
# which keep their generated history between runs.
#
# Settings (env): DBDIR (default /tmp/webcallback-db), MYSQL_PORT (3407),
# PG_PORT (5433), DB_INSTALL=0 to never apt-get install.
set -eu

DBDIR=${DBDIR:-/tmp/webcallback-db}
MYSQL_PORT=${MYSQL_PORT:-3407}
PG_PORT=${PG_PORT:-5433}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
ENVFILE=$DBDIR/env
PGUSER_OS=${PGUSER_OS:-postgres}

log() { echo "db.sh: $*" >&2; }

install_missing() {
	[ "${DB_INSTALL:-1}" = 1 ] || return 0
	need=
	command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need="$need mariadb-server"
	[ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] || need="$need postgresql"
	[ -z "$need" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		log "missing:$need (not root: not installing; tests needing them will skip)"
		return 0
	fi
	log "installing:$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >&2 ||
		{ apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >&2; }
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
}

wait_for() { # wait_for <what> <command...>
	what=$1
	shift
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 120 ]; then
			log "$what did not come up; its log:"
			cat "$DBDIR/$what.log" >&2 || true
			return 1
		fi
		sleep 0.5
	done
}

start_mysql() {
	MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
	[ -x "$MARIADBD" ] || { log "mariadbd not found: no MariaDB"; return 0; }
	d=$DBDIR/mysql
	if [ ! -d "$d/data/mysql" ]; then
		mkdir -p "$d/data"
		mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$d/data" \
			--auth-root-authentication-method=normal --skip-test-db >"$DBDIR/mysql.log" 2>&1
	fi
	# --user is needed when root; harmless otherwise. Small buffers: 2-core CI box.
	"$MARIADBD" --no-defaults --user="$(id -un)" --datadir="$d/data" \
		--socket="$d/mysqld.sock" --pid-file="$d/mysqld.pid" \
		--bind-address=127.0.0.1 --port="$MYSQL_PORT" --skip-name-resolve \
		--innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
		--max-connections=300 --log-error="$DBDIR/mysql.log" </dev/null >>"$DBDIR/mysql.log" 2>&1 &
	wait_for mysql mariadb --no-defaults -uroot --socket="$d/mysqld.sock" -e 'select 1'
	mariadb --no-defaults -uroot --socket="$d/mysqld.sock" <<-SQL
		CREATE DATABASE IF NOT EXISTS wcbtest CHARACTER SET utf8mb4;
		CREATE DATABASE IF NOT EXISTS wcbbench CHARACTER SET utf8mb4;
		CREATE DATABASE IF NOT EXISTS wcbtest_outage CHARACTER SET utf8mb4;
		CREATE DATABASE IF NOT EXISTS wcbcluster CHARACTER SET utf8mb4;
		CREATE DATABASE IF NOT EXISTS wcbcluster_cmd CHARACTER SET utf8mb4;
		CREATE DATABASE IF NOT EXISTS wcbcluster_bench CHARACTER SET utf8mb4;
		CREATE USER IF NOT EXISTS 'wcb'@'127.0.0.1' IDENTIFIED BY 'wcbpass';
		CREATE USER IF NOT EXISTS 'wcb'@'localhost' IDENTIFIED BY 'wcbpass';
		GRANT ALL ON wcbtest.* TO 'wcb'@'127.0.0.1';
		GRANT ALL ON wcbtest.* TO 'wcb'@'localhost';
		GRANT ALL ON wcbbench.* TO 'wcb'@'127.0.0.1';
		GRANT ALL ON wcbbench.* TO 'wcb'@'localhost';
		GRANT ALL ON wcbtest_outage.* TO 'wcb'@'127.0.0.1';
		GRANT ALL ON wcbtest_outage.* TO 'wcb'@'localhost';
		GRANT ALL ON wcbcluster.* TO 'wcb'@'127.0.0.1';
		GRANT ALL ON wcbcluster.* TO 'wcb'@'localhost';
		GRANT ALL ON wcbcluster_cmd.* TO 'wcb'@'127.0.0.1';
		GRANT ALL ON wcbcluster_cmd.* TO 'wcb'@'localhost';
		GRANT ALL ON wcbcluster_bench.* TO 'wcb'@'127.0.0.1';
		GRANT ALL ON wcbcluster_bench.* TO 'wcb'@'localhost';
	SQL
	echo "export WEBCALLBACK_TEST_MYSQL=mysql://wcb:wcbpass@127.0.0.1:$MYSQL_PORT/wcbtest" >>"$ENVFILE"
	echo "export WEBCALLBACK_BENCH_MYSQL=mysql://wcb:wcbpass@127.0.0.1:$MYSQL_PORT/wcbbench" >>"$ENVFILE"
	echo "export WEBCALLBACK_TEST_MYSQL_OUTAGE=mysql://wcb:wcbpass@127.0.0.1:$MYSQL_PORT/wcbtest_outage" >>"$ENVFILE"
	# The scale-out tests' own database: the store suite empties and drops
	# the tables of wcbtest while they may run (go test runs packages at once).
	# Each package with such tests works in a database of its own beside it
	# (<name>_cmd, <name>_bench: testenv.ClusterDSN), as a service instance
	# of one package's test would finish the other's deliberately dead
	# instances' calls (any instance claims a dead instance's lost calls).
	echo "export WEBCALLBACK_TEST_CLUSTER_MYSQL=mysql://wcb:wcbpass@127.0.0.1:$MYSQL_PORT/wcbcluster" >>"$ENVFILE"
	log "MariaDB up on 127.0.0.1:$MYSQL_PORT"
}

start_pg() {
	[ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] || { log "postgres not found: no PostgreSQL"; return 0; }
	d=$DBDIR/pg
	# postgres refuses to run as root: run it as $PGUSER_OS (the Debian package's user).
	run=
	if [ "$(id -u)" = 0 ]; then
		id "$PGUSER_OS" >/dev/null 2>&1 || useradd --system --no-create-home "$PGUSER_OS"
		run="runuser -u $PGUSER_OS --"
	fi
	mkdir -p "$d"
	touch "$DBDIR/pg.log"
	[ "$(id -u)" = 0 ] && chown "$PGUSER_OS" "$d" "$DBDIR/pg.log"
	if [ ! -f "$d/data/PG_VERSION" ]; then
		$run "$PGBIN/initdb" -D "$d/data" -U postgres --auth=trust -E UTF8 --no-locale >"$DBDIR/pg.log" 2>&1
	fi
	$run "$PGBIN/pg_ctl" -D "$d/data" -l "$DBDIR/pg.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $d -c max_connections=300 -c fsync=off -c synchronous_commit=off -c shared_buffers=128MB" start >&2
	wait_for pg "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT"
	"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtAc "SELECT 1 FROM pg_roles WHERE rolname='wcb'" | grep -q 1 ||
		"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE ROLE wcb LOGIN PASSWORD 'wcbpass'"
	"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='wcbtest'" | grep -q 1 ||
		"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE wcbtest OWNER wcb"
	for db in wcbbench wcbtest_outage wcbcluster wcbcluster_cmd wcbcluster_bench; do
		"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1 ||
			"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $db OWNER wcb"
	done
	echo "export WEBCALLBACK_TEST_POSTGRES=postgres://wcb:wcbpass@127.0.0.1:$PG_PORT/wcbtest?sslmode=disable" >>"$ENVFILE"
	echo "export WEBCALLBACK_TEST_CLUSTER_POSTGRES=postgres://wcb:wcbpass@127.0.0.1:$PG_PORT/wcbcluster?sslmode=disable" >>"$ENVFILE"
	echo "export WEBCALLBACK_BENCH_POSTGRES=postgres://wcb:wcbpass@127.0.0.1:$PG_PORT/wcbbench?sslmode=disable" >>"$ENVFILE"
	echo "export WEBCALLBACK_TEST_POSTGRES_OUTAGE=postgres://wcb:wcbpass@127.0.0.1:$PG_PORT/wcbtest_outage?sslmode=disable" >>"$ENVFILE"
	log "PostgreSQL up on 127.0.0.1:$PG_PORT"
}

# alive: both servers of $ENVFILE answer on their ports.
alive() {
	if grep -q WEBCALLBACK_TEST_MYSQL "$ENVFILE"; then
		mariadb --no-defaults -uroot --socket="$DBDIR/mysql/mysqld.sock" -e 'select 1' >/dev/null 2>&1 || return 1
	fi
	if grep -q WEBCALLBACK_TEST_POSTGRES "$ENVFILE"; then
		"$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" >/dev/null 2>&1 || return 1
	fi
	return 0
}

stop_all() {
	if [ -f "$DBDIR/mysql/mysqld.pid" ]; then
		pid=$(cat "$DBDIR/mysql/mysqld.pid")
		kill "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i + 1)); done
	fi
	if [ -f "$DBDIR/pg/data/postmaster.pid" ]; then
		if [ "$(id -u)" = 0 ]; then
			runuser -u "$PGUSER_OS" -- "$PGBIN/pg_ctl" -D "$DBDIR/pg/data" -m fast stop >&2 || true
		else
			"$PGBIN/pg_ctl" -D "$DBDIR/pg/data" -m fast stop >&2 || true
		fi
	fi
	rm -rf "$DBDIR"
}

case "${1:-}" in
start)
	if [ -f "$ENVFILE" ]; then
		# An env file outlives its servers when the machine or session that
		# started them ended: trust it only if both still answer.
		if alive; then
			log "already running (see $ENVFILE)"
			cat "$ENVFILE"
			exit 0
		fi
		log "stale $ENVFILE (servers gone): cleaning up and starting anew"
		stop_all 2>/dev/null || true
	fi
	install_missing
	mkdir -p "$DBDIR"
	chmod 755 "$DBDIR"
	: >"$ENVFILE"
	start_mysql
	start_pg
	cat "$ENVFILE"
	;;
stop) stop_all ;;
env) cat "$ENVFILE" ;;
*)
	echo "usage: $0 start|stop|env" >&2
	exit 2
	;;
esac
