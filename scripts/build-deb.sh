#!/usr/bin/env bash
# Builds the Debian/Ubuntu package of webcallback with dpkg-deb:
#
#   bash scripts/build-deb.sh            # → dist/webcallback_<version>_<arch>.deb
#   VERSION=1.2.0 ARCH=arm64 bash scripts/build-deb.sh
#
# Needs Go and dpkg-deb (Debian's dpkg). The package holds the static binary
# (/usr/bin/webcallback), the settings file (/etc/webcallback/webcallback.conf,
# a conffile), the systemd unit, the Asterisk kit's installer
# (/usr/sbin/webcallback-install-asterisk) with the prompts, the TLS proxy
# and Prometheus samples and the operator's documentation. Its maintainer
# scripts (deploy/deb/) create the webcallback user, /var/lib/webcallback
# (0750) and /etc/webcallback/credentials, and run the migrations once.
# Install: dpkg -i dist/webcallback_*.deb (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCH=${ARCH:-$(dpkg --print-architecture)}
case "$ARCH" in
amd64 | arm64 | riscv64 | ppc64el | s390x) goarch=${ARCH/ppc64el/ppc64le} ;;
armhf) goarch=arm ;;
i386) goarch=386 ;;
*) echo "build-deb: unsupported architecture $ARCH" >&2; exit 2 ;;
esac
if [ -z "${VERSION:-}" ]; then
	# No release tags yet: a snapshot version that sorts by commit time,
	# so each newer build upgrades the previous one.
	VERSION="0.1.0~git$(git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(git rev-parse --short=10 HEAD)"
	git diff --quiet HEAD -- . 2>/dev/null || VERSION="$VERSION.dirty$(date -u +%Y%m%d%H%M%S)"
fi
OUT=${OUT:-dist}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

install -d "$root/usr/bin" "$root/usr/sbin" "$root/etc/webcallback" "$root/lib/systemd/system" \
	"$root/usr/share/webcallback" "$root/usr/share/doc/webcallback/examples" "$root/DEBIAN"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -ldflags "-s -w" -o "$root/usr/bin/webcallback" ./cmd/webcallback
install -m 0755 deploy/asterisk/install-kit.sh "$root/usr/sbin/webcallback-install-asterisk"
install -m 0640 deploy/webcallback.conf "$root/etc/webcallback/webcallback.conf"
install -m 0644 deploy/systemd/webcallback.service "$root/lib/systemd/system/webcallback.service"
for lang in zh en; do
	install -d "$root/usr/share/webcallback/sounds/$lang"
	install -m 0644 deploy/sounds/$lang/* "$root/usr/share/webcallback/sounds/$lang/"
done
install -m 0644 docs/operations.md docs/asterisk.md docs/security.md README.md "$root/usr/share/doc/webcallback/"
install -m 0644 deploy/nginx/webcallback.conf "$root/usr/share/doc/webcallback/examples/nginx-webcallback.conf"
install -m 0644 deploy/caddy/Caddyfile "$root/usr/share/doc/webcallback/examples/Caddyfile"
install -m 0644 deploy/prometheus/alerts.yml deploy/prometheus/scrape.yml "$root/usr/share/doc/webcallback/examples/"

install -m 0755 deploy/deb/postinst deploy/deb/prerm deploy/deb/postrm "$root/DEBIAN/"
install -m 0644 deploy/deb/conffiles "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size/" deploy/deb/control >"$root/DEBIAN/control"

mkdir -p "$OUT"
deb="$OUT/webcallback_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
