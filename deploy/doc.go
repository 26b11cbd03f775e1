// Package deploy is what runs webcallback on a machine, next to the code:
// the systemd unit (systemd/), the settings file the .deb installs
// (webcallback.conf), the package's maintainer scripts (deb/, built by
// scripts/build-deb.sh), the TLS front samples (nginx/, caddy/), the
// Prometheus scrape and alert rules (prometheus/), the Asterisk kit
// (asterisk/) and its prompts (sounds/). docs/operations.md is the
// operator's guide to them.
//
// The package has no code of its own: its tests check these files against
// the real tools (systemd-analyze, nginx, Caddy, dpkg-deb) and the running
// service, so a sample that drifts from the service fails the build.
package deploy
