#!/bin/sh
# tools/deps.sh: install what airlock builds and tests with, from Debian's
# packages, when it is missing.  Run as root on a fresh machine; a machine
# that has everything skips apt entirely.
PKGS="build-essential pkg-config libpcre2-dev libcjson-dev libssl-dev libcurl4-openssl-dev \
libcurl3-gnutls libcurl3-nss libgnutls28-dev curl wget openssl ca-certificates python3 \
python3-requests python3-httpx python3-h2 python3-aiohttp python3-pycurl python3-urllib3 nodejs"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps: not root; install these packages first:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
    echo "deps: apt-get install failed for:$missing" >&2
    exit 1
}
