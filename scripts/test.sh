#!/usr/bin/env bash
# The whole test suite, as CI runs it, on a fresh Debian machine (as root):
# installs what the tests need (MariaDB, PostgreSQL, Chromium, espeak-ng,
# sox, nginx, Caddy), starts throw-away database servers on loopback, runs
# go vet and every test with the race detector (fuzz seed corpora
# included), then stops the servers. Go modules come through the module proxy.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh ./ami/...  # only some packages (servers still started)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
[ -x /usr/lib/postgresql/15/bin/postgres ] || command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox libsox-fmt-all)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v caddy >/dev/null 2>&1 || need+=(caddy)
# A CJK font, so the zh screenshots of the browser tests show the text.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

echo "== starting throw-away database servers"
# A directory and ports of this run's own, so a developer's servers (or the
# stale files of a machine's earlier session) are never mistaken for ours.
free_port() { # free_port <first>: the first port from <first> nobody listens on
	p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
export DBDIR
DBDIR=$(mktemp -d /tmp/webcallback-test-db.XXXXXX)
export MYSQL_PORT PG_PORT
MYSQL_PORT=$(free_port 3407)
PG_PORT=$(free_port 5433)
dbenv=$(mktemp)
trap 'bash .ci/db.sh stop || true; rm -f "$dbenv"' EXIT
bash .ci/db.sh start >"$dbenv"
# shellcheck disable=SC1090
source "$dbenv"

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)
echo "== go vet"
go vet "${pkgs[@]}"
echo "== go test"
go test -race -timeout 20m "${pkgs[@]}"
