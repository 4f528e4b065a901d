#!/usr/bin/env bash
# The one list of what the test suite needs on a Debian 12 machine (run as root). `.ci/run` calls it and the README
# names it, so the prerequisites cannot drift. It installs only what is missing; no daemon is started here: the
# tests start their own private servers on free loopback ports.
set -euo pipefail

# pdns_server and named live in /usr/sbin, which minimal images do not always put on PATH.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# <command or file> <debian package>: one line per thing a test spawns or reads.
REQUIREMENTS=(
  "redis-server redis-server"
  "pdns_server pdns-server"
  "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql pdns-backend-sqlite3"
  "dig bind9-dnsutils"
  "sqlite3 sqlite3"
  "socat socat"
  "named bind9"
  "tsig-keygen bind9"
  "named-checkzone bind9-utils"
  "haproxy haproxy"
  "knotd knot"
  "prometheus prometheus"
  "promtool prometheus"
  "prometheus-alertmanager prometheus-alertmanager"
  "amtool prometheus-alertmanager"
  "prometheus-blackbox-exporter prometheus-blackbox-exporter"
  "chromium chromium"
  "/etc/ssl/certs/ca-certificates.crt ca-certificates"
  "openssl openssl"
)

missing=()
for req in "${REQUIREMENTS[@]}"; do
  what="${req% *}"
  pkg="${req##* }"
  if [[ "$what" == /* ]]; then
    [ -e "$what" ] || missing+=("$pkg")
  else
    command -v "$what" >/dev/null 2>&1 || missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-test-deps: every test prerequisite is present"
  exit 0
fi
# The sqlite backend is useless without the server and the other way round.
case " ${missing[*]} " in
  *" pdns-backend-sqlite3 "*|*" pdns-server "*) missing+=(pdns-server pdns-backend-sqlite3) ;;
esac
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-test-deps: installing ${packages[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: run as root (or with sudo) to install Debian packages" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" </dev/null
dpkg-query -W -f='install-test-deps: installed ${Package} ${Version}\n' "${packages[@]}"
