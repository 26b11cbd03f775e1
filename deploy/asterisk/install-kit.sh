#!/bin/sh
# webcallback-install-asterisk: renders the Asterisk configuration for the
# settings in /etc/webcallback/webcallback.conf and installs it, with the
# prompts, into an Asterisk on this machine (docs/asterisk.md, steps 1, 2
# and 4, in one command). The .deb installs it as
# /usr/sbin/webcallback-install-asterisk.
#
#   webcallback-install-asterisk [--diff] [asterisk-config settings...]
#
# --diff only shows what would change. Otherwise /etc/asterisk is first
# copied to /etc/asterisk.before-webcallback-<time>. The files replace the
# ones of the same name: on an Asterisk that already has a dialplan or
# PJSIP endpoints, follow docs/asterisk.md §2 by hand instead.
# Secrets: /etc/webcallback/credentials/ami-secret and register-password.
# The environment variables below point it elsewhere (the test in deploy/
# installs into a temporary directory this way).
set -eu
conf=${WEBCALLBACK_CONFIG:-/etc/webcallback/webcallback.conf}
creds=${WEBCALLBACK_CREDENTIALS:-/etc/webcallback/credentials}
etc=${ASTERISK_ETC:-/etc/asterisk}
sounds=${ASTERISK_SOUNDS:-/var/lib/asterisk/sounds}
share=${WEBCALLBACK_SHARE:-/usr/share/webcallback}
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

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" asterisk-config --out "$tmp" "$@"

if [ -n "$diff_only" ]; then
	for f in "$tmp"/*.conf; do
		old="$etc/$(basename "$f")"
		[ -e "$old" ] || old=/dev/null
		diff -u "$old" "$f" || true
	done
	exit 0
fi

group=$(id -gn "$owner")
backup=
if [ -d "$etc" ]; then
	backup="$etc.before-webcallback-$(date +%Y%m%d%H%M%S)"
	cp -a "$etc" "$backup"
fi
[ -d "$etc" ] || install -d -o "$owner" -g "$group" -m 0750 "$etc"
install -o "$owner" -g "$group" -m 0640 "$tmp"/*.conf "$etc/"
chmod 0600 "$etc/manager.conf" "$etc/pjsip.conf"
for lang in zh en; do
	install -d -o "$owner" -g "$group" "$sounds/$lang"
	install -o "$owner" -g "$group" -m 0644 "$share/sounds/$lang"/* "$sounds/$lang/"
done
echo "installed into $etc${backup:+ (the previous files are in $backup)} and $sounds/{zh,en}"
echo "next: systemctl restart asterisk; then the checks of docs/asterisk.md §2-§4"
