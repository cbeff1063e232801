#!/usr/bin/env bash
# Makes sure what the tests need is on this machine and running on localhost: PostgreSQL
# (database "test", trust auth on loopback), Redis, RabbitMQ, libvirt's client library and
# the real OpenStack/S3 clients the tests drive, and for real guests libvirtd with QEMU
# (virtlogd and libvirtd started as daemons when there is no init system to do it). Starts what is installed but stopped;
# installs with apt-get what is missing (needs root). Safe to run again.
set -euo pipefail

log() { printf '[ensure-services] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wait_for() { # name, tries, command...
  local name=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  log "$name did not come up"; return 1
}

# --- PostgreSQL -------------------------------------------------------------------------
pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    log "trusting loopback connections in $hba (test machine)"
    as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for PostgreSQL 60 pg_up
fi
if ! psql -h 127.0.0.1 -U postgres -d test -tAc 'select 1' >/dev/null 2>&1; then
  log "creating database test"
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'CREATE DATABASE test' >/dev/null
fi

# --- Redis -----------------------------------------------------------------------------
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
if ! redis_up; then
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 30 redis_up
fi

# --- RabbitMQ --------------------------------------------------------------------------
rabbit_up() { as_root rabbitmqctl -q status >/dev/null 2>&1 && as_root rabbitmqctl -q list_queues -p / >/dev/null 2>&1; }
if ! rabbit_up; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  log "starting RabbitMQ"
  as_root rabbitmq-server -detached || true
  as_root rabbitmqctl -q await_startup --timeout 120 >/dev/null 2>&1 || wait_for RabbitMQ 120 rabbit_up
fi
# A stop_app left behind by an interrupted test would leave the node down.
as_root rabbitmqctl -q start_app >/dev/null 2>&1 || true

# --- Clients and libraries the tests drive -----------------------------------------------
apt_install libvirt0 libvirt-clients python3-openstackclient python3-swiftclient s3cmd rclone curl
command -v aws >/dev/null || apt_install awscli

# --- libvirtd and QEMU for real guests ---------------------------------------------------
# The test guest (deploy/guest) is built from Debian's kernel and busybox-static packages.
# dnsmasq-base serves DHCP and DNS on libvirt's NAT network 'default' (guests' NICs); it is
# only a recommendation of libvirt-daemon-system, which --no-install-recommends leaves out.
apt_install libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86 qemu-utils \
  genisoimage busybox-static cpio e2fsprogs binutils xz-utils dnsmasq-base
libvirt_up() { virsh -c qemu:///system version >/dev/null 2>&1; }
if ! libvirt_up; then
  pgrep -x virtlogd >/dev/null || { log "starting virtlogd"; as_root virtlogd -d; }
  pgrep -x libvirtd >/dev/null || { log "starting libvirtd"; as_root libvirtd -d; }
  wait_for libvirtd 60 libvirt_up
fi

log "PostgreSQL, Redis, RabbitMQ and libvirtd are up"
