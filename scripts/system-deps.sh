#!/usr/bin/env bash
# Install the Debian packages that the integration tests use, if they are missing:
#   golang-go + golang-github-vmware-govmomi-dev  -> the govmomi vCenter simulator (drain tests)
#   chromium                                       -> headless browser check of the HTML report
#   prometheus (prometheus + promtool)             -> watch: alert rule tests, end-to-end scrape
# Without root or apt-get, say what is missing; the tests that need it skip (outside CI) or fail (CI).
set -euo pipefail
need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/vmware/govmomi ] || need+=(golang-github-vmware-govmomi-dev)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "note: missing ${need[*]} (needs root and apt-get); tests that need them will skip" >&2
fi
