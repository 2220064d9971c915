#!/usr/bin/env bash
# Makes sure Chromium (for the browser tests) and nginx (for the proxy tests and the benchmark) are
# installed and the servers the engine tests talk to run on 127.0.0.1: Redis (6379), NATS with
# JetStream (4222) and PostgreSQL (5432, trust auth for local TCP, database "test"). Each one that
# is missing is installed from Debian's packages; each server that is down is started. nginx is
# never started as a system service: the tests run their own instances. Exits non-zero if anything
# is still missing or unreachable, so CI fails instead of skipping.
set -euo pipefail

SUDO=''
if [ "$(id -u)" -ne 0 ]; then SUDO='sudo'; fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # port name
  for _ in $(seq 1 60); do
    if listening "$1"; then echo "services: $2 is up on 127.0.0.1:$1"; return 0; fi
    sleep 0.5
  done
  echo "services: $2 did not come up on 127.0.0.1:$1" >&2
  return 1
}

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
# The browser tests drive Debian's Chromium through playwright-core (no browser download).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# test/integration/nginx.test.ts runs Debian's nginx in front of the hub (openssl makes its
# certificate); the benchmark loads the nchan module; systemd-analyze checks the unit files.
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || missing+=(libnginx-mod-nchan)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "services: installing ${missing[*]}"
  # Installing nginx starts (or reloads) the system's nginx unless policy-rc.d forbids it. Where
  # no policy exists, one that refuses nginx only is put in place for this install, then removed.
  if [[ " ${missing[*]} " == *" nginx-light "* || " ${missing[*]} " == *" libnginx-mod-nchan "* ]] && [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# Left by ssehub scripts/ensure-services.sh during an install: nginx is not started.\nwhile [ "$#" -gt 0 ]; do case "$1" in --*) shift ;; *) break ;; esac; done\n[ "$1" = nginx ] && exit 101\nexit 0\n' |
      $SUDO sh -c 'cat > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ -x /usr/sbin/nginx ] || { echo "services: /usr/sbin/nginx is missing after the install" >&2; exit 1; }
[ -f /usr/lib/nginx/modules/ngx_nchan_module.so ] || { echo "services: the nchan module is missing after the install" >&2; exit 1; }
/usr/sbin/nginx -v 2>&1 | sed 's/^/services: /'

if ! listening 6379; then
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

if ! listening 4222; then
  NATS="$(command -v nats-server || echo /usr/sbin/nats-server)"
  $SUDO mkdir -p /var/lib/nats-server
  $SUDO start-stop-daemon --start --oknodo --background --exec "$NATS" -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi

if ! listening 5432; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

wait_for 6379 Redis
wait_for 4222 NATS
wait_for 5432 PostgreSQL

# A fresh PostgreSQL install asks for passwords over TCP and has no "test" database: the tests
# connect as postgres with trust auth, as on the project's machines.
if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! $SUDO grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' | $SUDO sh -c "cat - '$hba' > '$hba.new' && mv '$hba.new' '$hba'"
    $SUDO chown postgres:postgres "$hba"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname = 'test'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -d postgres -c 'create database test' >/dev/null
  psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null
  echo "services: PostgreSQL trusts local TCP connections; database test exists"
fi

# Each hub instance on PostgreSQL holds up to 11 connections (a pool of 10 and one to LISTEN); the
# suite runs two files at a time, several with three hubs or more, and the engine's contract tests
# open engines side by side: PostgreSQL's default of 100 connections is too few for that.
MIN_PG_CONNECTIONS=300
if [ "$(psql -h 127.0.0.1 -U postgres -d test -Atc 'show max_connections')" -lt "$MIN_PG_CONNECTIONS" ]; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  psql -h 127.0.0.1 -U postgres -d test -qc "alter system set max_connections = $MIN_PG_CONNECTIONS"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  wait_for 5432 PostgreSQL
  for _ in $(seq 1 60); do psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
  echo "services: PostgreSQL takes $(psql -h 127.0.0.1 -U postgres -d test -Atc 'show max_connections') connections"
fi
