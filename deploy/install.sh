#!/usr/bin/env bash
# deploy/install.sh — install paas on this machine and start it:  sudo deploy/install.sh [--no-start]
#
# For a Debian machine, as root, from a clone of the repository. It installs the packages paas
# needs (if missing), builds /usr/local/bin/paas from this clone, makes sure containerd runs on
# /run/containerd/containerd.sock, creates /var/lib/paas and starts `paas server` with its
# defaults: as the systemd service "paas" when systemd runs the machine, otherwise in the
# foreground of this terminal. Running it again upgrades the binary and restarts the service.
#
#   --no-start   install and build only; leave containerd and paas as they are
#   --no-stacks  do not make the base images (paas stack build) before starting
set -euo pipefail

GO_MIN_MINOR=26 # Go 1.26 or newer
APT_PACKAGES=(containerd runc containernetworking-plugins git openssh-client debootstrap
	ca-certificates iptables iproute2)
BIN=/usr/local/bin/paas
DATA_DIR=/var/lib/paas
LOG_DIR=/var/log/paas
CONTAINERD_SOCK=/run/containerd/containerd.sock
UNIT=/etc/systemd/system/paas.service

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'deploy/install.sh: %s\n' "$*" >&2
	exit 1
}

start=1
stacks=1
for arg; do
	case $arg in
	--no-start) start=0 ;;
	--no-stacks) stacks=0 ;;
	-h | --help)
		sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*) die "unknown argument: $arg (see --help)" ;;
	esac
done

[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo deploy/install.sh)"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export HOME="${HOME:-/root}" # go needs it for its caches
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ -f $REPO/go.mod && -d $REPO/cmd/paas ]] || die "$REPO does not look like the paas repository"
# shellcheck source=deploy/lib.sh
. "$REPO/deploy/lib.sh"

# systemd manages this machine (sd_booted(3)'s test).
systemd=0
[[ -d /run/systemd/system ]] && systemd=1

# --- packages and Go -------------------------------------------------------------------------

ensure_packages "${APT_PACKAGES[@]}"

require_go "$GO_MIN_MINOR"

# --- build -----------------------------------------------------------------------------------

say "building $BIN from $REPO ($go_version)"
old_sum=$(sha256sum "$BIN" 2>/dev/null | cut -d' ' -f1 || true)
# Build beside the target and rename, so a running paas is never overwritten in place.
(cd "$REPO" && go build -trimpath -o "$BIN.new" ./cmd/paas)
mv -f "$BIN.new" "$BIN"
changed=0
[[ $(sha256sum "$BIN" | cut -d' ' -f1) == "$old_sum" ]] || changed=1

install -d -m 0700 "$DATA_DIR"

if ((!start)); then
	say "installed $BIN; not starting anything (--no-start)"
	exit 0
fi

# --- containerd ------------------------------------------------------------------------------

containerd_up() { ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }

wait_for_containerd() {
	local i
	for ((i = 0; i < 300; i++)); do
		containerd_up && return 0
		sleep 0.1
	done
	return 1
}

if ((systemd)); then
	say "starting containerd (systemd)"
	systemctl enable --now containerd
	wait_for_containerd || die "containerd did not answer on $CONTAINERD_SOCK; see: journalctl -u containerd"
elif containerd_up; then
	say "containerd is already running on $CONTAINERD_SOCK"
else
	say "starting containerd in the background (log: $LOG_DIR/containerd.log)"
	install -d -m 0755 "$LOG_DIR"
	setsid containerd >>"$LOG_DIR/containerd.log" 2>&1 </dev/null &
	if ! wait_for_containerd; then
		tail -n 20 "$LOG_DIR/containerd.log" >&2 || true
		die "containerd did not answer on $CONTAINERD_SOCK (log above)"
	fi
fi

# --- stacks ----------------------------------------------------------------------------------

# The base images apps are built on and run in, from Debian packages (debootstrap, the host's
# apt mirror). A few minutes the first time; afterwards a no-op unless the recipe changed.
if ((stacks)); then
	say "making the stacks (paas stack build; cached in /var/cache/paas/stacks)"
	"$BIN" stack build || die "paas stack build failed (see above); run this script again, or with --no-stacks"
fi

# --- paas server -----------------------------------------------------------------------------

if ((!systemd)); then
	say "no systemd: running 'paas server' in the foreground (Ctrl-C stops it; run this script again to restart)"
	say "on its first start it prints the admin token below, and writes it to $DATA_DIR/admin-token"
	exec "$BIN" server
fi

say "installing $UNIT"
unit_changed=0
cmp -s "$REPO/deploy/paas.service" "$UNIT" || unit_changed=1
install -m 0644 "$REPO/deploy/paas.service" "$UNIT"
systemctl daemon-reload
was_active=0
systemctl is-active --quiet paas && was_active=1
systemctl enable --now paas
if ((was_active && (changed || unit_changed))); then
	say "restarting paas (new binary or unit)"
	systemctl restart paas
fi

# The first start creates the admin user and its token.
for ((i = 0; i < 100; i++)); do
	[[ -s $DATA_DIR/admin-token ]] && break
	systemctl is-active --quiet paas || break
	sleep 0.1
done
systemctl is-active --quiet paas ||
	die "paas did not stay up; see: journalctl -u paas"
say "paas is running (systemctl status paas; logs: journalctl -u paas)"
if [[ -s $DATA_DIR/admin-token ]]; then
	say "the admin token is in $DATA_DIR/admin-token (read it with: sudo cat $DATA_DIR/admin-token;"
	say "it is also in the first lines of: journalctl -u paas). Then: paas login http://THIS-HOST:8000 --token TOKEN"
else
	say "no $DATA_DIR/admin-token: the admin token was already used (the file is removed on first use)"
fi
