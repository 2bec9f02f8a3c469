#!/usr/bin/env bash
# Installs the servers the test suite runs against: PostgreSQL, Redis and
# Chromium (with a font so screenshots show text), and Node.js for the
# widget's unit tests (`node --test`, Node 18 or later). Idempotent and silent when
# everything is already there, so `make test` can call it every time.
set -euo pipefail

missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs)
dpkg-query -W -f='${Status}' fonts-liberation 2>/dev/null | grep -q 'ok installed' \
  || missing+=(fonts-liberation)

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-test-deps: missing ${missing[*]}; run this script as root to install them" >&2
  exit 1
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
  --no-install-recommends "${missing[@]}" </dev/null
