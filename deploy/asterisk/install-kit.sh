#!/bin/sh
# webcallback-install-asterisk: installs the Asterisk kit for the settings
# in /etc/webcallback/webcallback.conf into an Asterisk on this machine
# (docs/asterisk.md step 2, for a packaged install). The writing is
# `webcallback asterisk-config --install`'s (the configuration, the CDR
# backend's files, the ODBC data source and every prompt, all from the
# binary); this script adds what an operator of a packaged install wants
# around it. The .deb installs it as /usr/sbin/webcallback-install-asterisk.
#
#   webcallback-install-asterisk [--diff] [asterisk-config settings...]
#
# --diff only shows what would change (configuration and /etc/odbc.ini).
# Otherwise /etc/asterisk is first copied to
# /etc/asterisk.before-webcallback-<time> (and /etc/odbc.ini beside it),
# then the files are installed, given to the asterisk user and closed to
# others (0640; those holding a secret 0600). The files replace the ones
# of the same name: on an Asterisk that already has a dialplan or PJSIP
# endpoints, follow docs/asterisk.md §2 by hand instead.
# Secrets: /etc/webcallback/credentials/ami-secret and register-password.
# The environment variables below point it elsewhere (the test in deploy/
# installs into a temporary directory this way).
set -eu
conf=${WEBCALLBACK_CONFIG:-/etc/webcallback/webcallback.conf}
creds=${WEBCALLBACK_CREDENTIALS:-/etc/webcallback/credentials}
etc=${ASTERISK_ETC:-/etc/asterisk}
sounds=${ASTERISK_SOUNDS:-/var/lib/asterisk/sounds}
odbcini=${ODBC_INI:-/etc/odbc.ini}
bin=${WEBCALLBACK_BIN:-webcallback}
owner=${ASTERISK_USER:-asterisk}

diff_only=
if [ "${1:-}" = "--diff" ]; then
	diff_only=1
	shift
fi

set -- --config "$conf" "$@"
for secret in ami-secret register-password; do
	if [ -s "$creds/$secret" ]; then
		set -- "$@" "--$secret-file" "$creds/$secret"
	fi
done

if [ -z "$diff_only" ] && ! getent passwd "$owner" >/dev/null; then
	echo "webcallback-install-asterisk: no user $owner: install Asterisk first (docs/asterisk.md §0)" >&2
	exit 1
fi

# A dry run into a scratch tree: the names and contents to compare, and a
# settings error caught before anything of the machine changes.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ -e "$odbcini" ]; then cp "$odbcini" "$tmp/odbc.ini"; fi
rc=0
"$bin" asterisk-config "$@" --install --out "$tmp/etc" --sounds-dir "$tmp/sounds" --odbc-ini "$tmp/odbc.ini" 2>"$tmp/log" || rc=$?
if [ "$rc" -ne 0 ]; then
	cat "$tmp/log" >&2
	exit "$rc"
fi
# With no ODBC backend the copy is not ours to compare or back up.
if ! grep -q '^\[webcallback-cdr\]' "$tmp/odbc.ini" 2>/dev/null; then rm -f "$tmp/odbc.ini"; fi

if [ -n "$diff_only" ]; then
	grep WARNING "$tmp/log" >&2 || true
	for f in "$tmp"/etc/*.conf; do
		old="$etc/$(basename "$f")"
		[ -e "$old" ] || old=/dev/null
		diff -u "$old" "$f" || true
	done
	if [ -e "$tmp/odbc.ini" ]; then
		old=$odbcini
		[ -e "$old" ] || old=/dev/null
		diff -u "$old" "$tmp/odbc.ini" || true
	fi
	exit 0
fi

group=$(id -gn "$owner")
backup=
if [ -d "$etc" ]; then
	backup="$etc.before-webcallback-$(date +%Y%m%d%H%M%S)"
	cp -a "$etc" "$backup"
	if [ -e "$odbcini" ] && [ -e "$tmp/odbc.ini" ]; then cp -a "$odbcini" "$backup/odbc.ini.system"; fi
else
	install -d -o "$owner" -g "$group" -m 0750 "$etc"
fi
"$bin" asterisk-config "$@" --install --out "$etc" --sounds-dir "$sounds" --odbc-ini "$odbcini"
# Asterisk runs as $owner and reads its files; nobody else needs them.
for f in "$tmp"/etc/*.conf; do
	name=$(basename "$f")
	chown "$owner:$group" "$etc/$name"
	chmod g-w,o= "$etc/$name"
done
echo "installed into $etc${backup:+ (the previous files are in $backup)}, $sounds/{zh,en}"
if [ -e "$tmp/odbc.ini" ]; then echo "the CDR data source [webcallback-cdr] is in $odbcini"; fi
echo "next: systemctl restart asterisk; then the checks of docs/asterisk.md §2-§4"
