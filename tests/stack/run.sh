#!/usr/bin/env bash
# `make test-stack`: the real stack on a real Docker engine. Installs Debian's docker.io, docker-compose and
# debootstrap if missing; uses the running engine, or starts its own dockerd (data under .stack/docker) and on
# exit stops it and removes what it added: containers, networks and volumes (journey.py brings the stack
# down), the daemon's iptables rules, its bridge and the ip_forward switch it turned on. Then builds the
# stand-ins of the third-party images (build-standins.sh) and drives the user's journey (journey.py).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work="$repo/.stack"
python=${PYTHON_BIN:-$repo/.venv/bin/python}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

say() { printf '[stack] %s\n' "$*" >&2; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v iptables-save >/dev/null || missing+=(iptables)
command -v nft >/dev/null || missing+=(nftables)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$work"
started_daemon=""
stop_daemon() {
  [ -n "$started_daemon" ] || return 0
  # Clean-up must run to the end and keep the run's own exit status, whatever fails here.
  set +e
  say "stopping the dockerd this run started"
  $SUDO kill "$(cat "$work/dockerd.pid")" 2>/dev/null
  for _ in $(seq 60); do [ -e "$work/dockerd.pid" ] || break; sleep 1; done
  # dockerd leaves its chains, NAT rules and bridge behind: put iptables back exactly as it was before the run,
  # an empty rule set included.
  $SUDO bash "$here/restore-iptables.sh" "$work/iptables.before"
  $SUDO sysctl -qw net.ipv4.ip_forward="$(cat "$work/ip_forward.before")"
  if ip link show docker0 >/dev/null 2>&1; then $SUDO ip link delete docker0; fi
  # ... and its network namespace mount under the exec root, which would keep `make clean` from removing .stack.
  findmnt -rn -o TARGET | grep "^$work/" | sort -r | xargs -r $SUDO umount
  say "engine stopped, iptables and bridge restored"
}
trap stop_daemon EXIT

if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (data root $work/docker)"
  $SUDO iptables-save >"$work/iptables.before"
  cat /proc/sys/net/ipv4/ip_forward >"$work/ip_forward.before"
  started_daemon=1
  $SUDO dockerd --data-root "$work/docker" --exec-root "$work/exec" --pidfile "$work/dockerd.pid" \
    >"$work/dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$work/dockerd.log" >&2; say "dockerd did not start"; exit 1; }
fi

export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0
started=$(date +%s)
STACK_WORK_DIR="$work" bash "$here/build-standins.sh"
say "stand-ins ready in $(( $(date +%s) - started ))s"
"$python" "$here/journey.py" "$@"
