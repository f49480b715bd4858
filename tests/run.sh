#!/usr/bin/env bash
# tests/run.sh — the test command of paas:  sudo tests/run.sh [go test arguments]
#
# On a Debian machine, as root: installs the packages the tests use (if missing) and staticcheck
# (into a cache outside the clone), starts a private containerd and a private PostgreSQL in a
# temporary directory, runs `go vet ./...`, `staticcheck ./...` and `go test`, then stops both
# daemons and removes everything it created. Arguments are handed to `go test` in place of
# `./...`, e.g.  tests/run.sh -run TestDeploy ./controller/...
#
# Tests find the daemons through PAAS_TEST_CONTAINERD (socket path) and PAAS_TEST_POSTGRES (DSN);
# see internal/testenv. With CI=true a test whose daemon is missing fails instead of skipping.
set -euo pipefail

STATICCHECK_VERSION=v0.8.2 # staticcheck 2026.2.2: the first release line that supports Go 1.26
GO_MIN_MINOR=26            # Go 1.26 or newer
CACHE_DIR=/var/cache/paas-test
APT_PACKAGES=(containerd runc containernetworking-plugins git openssh-client openssh-server
	postgresql iproute2 iptables nftables debootstrap ca-certificates busybox-static chromium chromium-driver)

if [[ -t 2 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() {
	printf 'tests/run.sh: %s\n' "$*" >&2
	exit 1
}
now() { echo "${EPOCHREALTIME/[,]/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }

# --- preconditions ---------------------------------------------------------------------------

[[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo tests/run.sh): the tests start a private containerd and PostgreSQL"
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export HOME="${HOME:-/root}" # go needs it for its caches
cd "$(dirname "${BASH_SOURCE[0]}")/.." # the repository root
# shellcheck source=deploy/lib.sh
. deploy/lib.sh

require_go "$GO_MIN_MINOR"

# --- packages --------------------------------------------------------------------------------

ensure_packages "${APT_PACKAGES[@]}"

# staticcheck, built once per (staticcheck version, Go version) and kept outside the clone.
STATICCHECK="$CACHE_DIR/bin/staticcheck-$STATICCHECK_VERSION-$go_version"
if [[ ! -x $STATICCHECK ]]; then
	say "installing staticcheck $STATICCHECK_VERSION"
	mkdir -p "$CACHE_DIR/bin"
	gobin=$(mktemp -d "$CACHE_DIR/bin/.install.XXXXXX")
	(cd / && GOBIN="$gobin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION") ||
		{ rm -rf "$gobin"; die "go install staticcheck@$STATICCHECK_VERSION failed"; }
	mv -f "$gobin/staticcheck" "$STATICCHECK"
	rm -rf "$gobin"
fi

# Pebble, the ACME test server, and its DNS/challenge companion, built once like staticcheck.
PEBBLE_VERSION=v2.10.1
PEBBLE_BIN="$CACHE_DIR/bin/pebble-$PEBBLE_VERSION-$go_version"
if [[ ! -x $PEBBLE_BIN/pebble || ! -x $PEBBLE_BIN/pebble-challtestsrv ]]; then
	say "installing pebble $PEBBLE_VERSION"
	mkdir -p "$PEBBLE_BIN"
	(cd / && GOBIN="$PEBBLE_BIN" go install "github.com/letsencrypt/pebble/v2/cmd/pebble@$PEBBLE_VERSION" \
		"github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$PEBBLE_VERSION") ||
		die "go install pebble@$PEBBLE_VERSION failed"
fi
export PAAS_TEST_PEBBLE="$PEBBLE_BIN"
PAAS_TEST_PEBBLE_CERTS="$(cd / && go env GOMODCACHE)/github.com/letsencrypt/pebble/v2@$PEBBLE_VERSION/test/certs"
export PAAS_TEST_PEBBLE_CERTS

# --- private daemons -------------------------------------------------------------------------

# Everything of one run lives under one directory named /var/tmp/paas-test.XXXXXX. teardown undoes
# a run given that directory; at start-up it also reaps directories of runs that were killed
# before they could clean up.

# pids_of_shims DIR: shims started by the private containerd of DIR (they carry its socket path).
pids_of_shims() {
	local sock="$1/ctd/containerd.sock" d comm
	for d in /proc/[0-9]*; do
		read -r comm 2>/dev/null <"$d/comm" || continue
		[[ $comm == containerd-shim* ]] || continue
		# cmdline is NUL-separated: one argument a line, matched whole.
		tr '\0' '\n' 2>/dev/null <"$d/cmdline" | grep -qxF -- "$sock" && echo "${d#/proc/}"
	done
	return 0
}

# alive_in PID DIR: PID is running and its command line mentions DIR (guards against PID reuse).
alive_in() {
	[[ -n $1 && -r /proc/$1/cmdline ]] && tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF -- "$2"
}

teardown() {
	local dir=$1 sock="$1/ctd/containerd.sock" pid ns id i pg_bin
	[[ -d $dir ]] || return 0

	# PostgreSQL.
	if [[ -f $dir/pg/data/postmaster.pid ]]; then
		pg_bin=$(cat "$dir/pg/bin" 2>/dev/null || true)
		if [[ -x $pg_bin/pg_ctl ]]; then
			(cd / && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$dir/pg/data" -m fast -w -t 20 stop >/dev/null 2>&1) || true
		fi
		pid=$(head -n1 "$dir/pg/data/postmaster.pid" 2>/dev/null || true)
		if alive_in "$pid" "$dir"; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi

	# containerd: first the tasks tests left behind, so their shims exit and unmount their
	# rootfs, then the daemon, then any shim still running.
	pid=$(cat "$dir/ctd/pid" 2>/dev/null || true)
	if alive_in "$pid" "$dir" && [[ -S $sock ]]; then
		for ns in $(timeout 5 ctr --address "$sock" namespaces ls -q 2>/dev/null || true); do
			for id in $(timeout 5 ctr --address "$sock" -n "$ns" tasks ls -q 2>/dev/null || true); do
				note "removing task $ns/$id left behind by the tests"
				timeout 10 ctr --address "$sock" -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 || true
			done
		done
	fi
	if alive_in "$pid" "$dir"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive_in "$pid" "$dir" || break
			sleep 0.1
		done
		if alive_in "$pid" "$dir"; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	# Containers still alive had their daemon die under them: have runc kill and delete those
	# whose state names a bundle of this daemon (runc's root is shared with any system containerd).
	local bundle shim_socks=() addr
	for bundle in "$dir"/ctd/state/io.containerd.runtime.v2.task/*/*; do
		[[ -d $bundle ]] || continue
		# A killed shim leaves its socket in the shared /run/containerd/s: remember it.
		addr=$(cat "$bundle/address" 2>/dev/null || true)
		[[ $addr == unix:///run/containerd/s/* ]] && shim_socks+=("${addr#unix://}")
		id=${bundle##*/}
		ns=${bundle%/*}
		ns=${ns##*/}
		if grep -qF "bundle=$bundle\"" "/run/containerd/runc/$ns/$id/state.json" 2>/dev/null; then
			note "killing container $ns/$id"
			timeout 10 runc --root "/run/containerd/runc/$ns" delete --force "$id" >/dev/null 2>&1 || true
		fi
	done
	for pid in $(pids_of_shims "$dir"); do
		note "killing containerd-shim $pid"
		kill -KILL "$pid" 2>/dev/null || true
	done
	((${#shim_socks[@]} == 0)) || rm -f "${shim_socks[@]}"

	# Mounts (container rootfs, snapshot mounts), deepest first. Never delete through a mount.
	local left=0 m
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
	if awk -v d="$dir/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
		left=1
	fi
	if ((left)); then
		note "WARNING: mounts remain under $dir; not removing it"
		return 0
	fi
	rm -rf --one-file-system "$dir"
}

for stale in /var/tmp/paas-test.*; do
	[[ -d $stale ]] || continue
	owner=$(cat "$stale/owner" 2>/dev/null || true)
	if [[ -n $owner ]] && alive_in "$owner" run.sh; then continue; fi # another run in progress
	say "cleaning up after an earlier run: $stale"
	teardown "$stale"
done

# Tests name their CNI bridges ptst*; remove any a crashed test left, so
# that a later run does not meet a second bridge on the same subnet.
delete_test_bridges() {
	local b other
	# Not while another run is going on: its tests' apps use theirs.
	for other in /var/tmp/paas-test.*; do
		[[ $other != "${RUN_DIR:-}" && -d $other ]] || continue
		if alive_in "$(cat "$other/owner" 2>/dev/null)" run.sh; then
			note "another test run is going on ($other): test bridges left for it"
			return 0
		fi
	done
	for b in $(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^ptst' || true); do
		ip link delete "$b" 2>/dev/null && note "removed the leftover test bridge $b"
	done
	# ... and the isolation rules of each network (nftables tables paas-<bridge>, see
	# runtime/network/firewall.go), which a server's networks keep until DeleteBridge.
	local family table
	while read -r _ family table; do
		[[ $table == paas-ptst* ]] || continue
		nft delete table "$family" "$table" 2>/dev/null && note "removed the test bridge's nftables table $family $table"
	done < <(nft list tables 2>/dev/null || true)
	return 0
}
delete_test_bridges

RUN_DIR=$(mktemp -d /var/tmp/paas-test.XXXXXX)
chmod 0711 "$RUN_DIR" # postgres must reach its directory inside
echo $$ >"$RUN_DIR/owner"
status=0
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$? t0
	trap - EXIT INT TERM
	((status)) || status=$rc
	say "stopping the private containerd and PostgreSQL"
	t0=$(now)
	teardown "$RUN_DIR"
	delete_test_bridges
	note "stopped and removed in $(since "$t0")"
	exit "$status"
}
trap cleanup EXIT
trap 'status=130; exit 130' INT
trap 'status=143; exit 143' TERM

t_setup=$(now)

# containerd: own root, state, sockets and opt dir, so nothing collides with a system containerd.
say "starting a private containerd in $RUN_DIR/ctd"
CTD_SOCK="$RUN_DIR/ctd/containerd.sock"
mkdir -p "$RUN_DIR/ctd"
cat >"$RUN_DIR/ctd/config.toml" <<EOF
version = 2
root = "$RUN_DIR/ctd/root"
state = "$RUN_DIR/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTD_SOCK"

[ttrpc]
  address = "$CTD_SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN_DIR/ctd/opt"
EOF
# In a session of its own: a Ctrl-C reaches the tests, and teardown stops containerd in order.
setsid containerd --config "$RUN_DIR/ctd/config.toml" >"$RUN_DIR/ctd/containerd.log" 2>&1 </dev/null &
echo $! >"$RUN_DIR/ctd/pid"
for ((i = 0; ; i++)); do
	ctr --address "$CTD_SOCK" version >/dev/null 2>&1 && break
	if ((i >= 300)) || ! alive_in "$(cat "$RUN_DIR/ctd/pid")" "$RUN_DIR"; then
		tail -n 30 "$RUN_DIR/ctd/containerd.log" >&2 || true
		die "the private containerd did not come up (log above)"
	fi
	sleep 0.1
done
note "containerd $(ctr --address "$CTD_SOCK" version 2>/dev/null | awk '/Version:/ { v = $2 } END { print v }') up in $(since "$t_setup") on $CTD_SOCK"

# PostgreSQL: a throw-away cluster, trust auth, 127.0.0.1 only, durability off for speed.
t0=$(now)
say "starting a private PostgreSQL in $RUN_DIR/pg"
id postgres >/dev/null 2>&1 || die "there is no 'postgres' user; is the postgresql package installed correctly?"
PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
[[ -x $PG_BIN/initdb ]] || die "initdb not found under /usr/lib/postgresql/*/bin"
mkdir -p "$RUN_DIR/pg"
echo "$PG_BIN" >"$RUN_DIR/pg/bin"
chown postgres: "$RUN_DIR/pg"
chmod 0700 "$RUN_DIR/pg"
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
as_postgres "$PG_BIN/initdb" -D "$RUN_DIR/pg/data" -U postgres --auth=trust -E UTF8 --locale=C \
	--no-sync >"$RUN_DIR/pg/initdb.log" 2>&1 ||
	{ tail -n 30 "$RUN_DIR/pg/initdb.log" >&2; die "initdb failed (log above)"; }
cat >>"$RUN_DIR/pg/data/postgresql.conf" <<EOF

# tests/run.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$RUN_DIR/pg'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
pg_started=0
for ((port = 55432; port < 55532; port++)); do
	[[ -z $(ss -Hltn "sport = :$port" 2>/dev/null) ]] || continue
	if as_postgres "$PG_BIN/pg_ctl" -D "$RUN_DIR/pg/data" -l "$RUN_DIR/pg/postgres.log" -w -t 30 \
		-o "-p $port" start >/dev/null 2>&1; then
		pg_started=1
		break
	fi
	# Lost a race for the port with another process? Then try the next one.
	grep -q "could not bind\|Address already in use" "$RUN_DIR/pg/postgres.log" 2>/dev/null || break
done
if ((!pg_started)); then
	tail -n 30 "$RUN_DIR/pg/postgres.log" >&2 || true
	die "the private PostgreSQL did not start (log above)"
fi
note "PostgreSQL $("$PG_BIN/postgres" -V | awk '{ print $3 }') up in $(since "$t0") on 127.0.0.1:$port"
note "set-up took $(since "$t_setup")"

export PAAS_TEST_CONTAINERD="$CTD_SOCK"
export PAAS_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
# The stacks (debootstrap, minutes) are built once per machine and kept outside the clone, keyed
# by their recipe; later runs only import them. PAAS_TEST_STACKS=0 skips that test.
export PAAS_TEST_STACKS="${PAAS_TEST_STACKS:-all}"
export PAAS_STACK_CACHE="$CACHE_DIR/stacks"

# --- checks and tests ------------------------------------------------------------------------

failed=()
say "go vet ./..."
go vet ./... || failed+=("go vet")

say "staticcheck ./... ($STATICCHECK_VERSION)"
"$STATICCHECK" ./... || failed+=(staticcheck)

# What the tests leave behind on the host once they have finished: containers in the private
# containerd, network namespaces and other mounts under the tests' temporary directories, and
# iptables rules for the subnets of the test bridges this run made. Each test removes what it
# made (apps destroyed, builds cleaned up), so that the suite can run twice in a row on one
# machine; anything found here is a leak, and fails the run. (The test bridges themselves, and
# the private containerd's images and snapshots, go with the teardown below.)
bridges_before=$(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^ptst' | sort || true)
test_mounts() { awk -v d="${TMPDIR:-/tmp}/Test" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort; }
mounts_before=$(test_mounts)
leak_check() {
	local leaks=() ns id b net n m other alone=1
	for ns in $(timeout 5 ctr --address "$CTD_SOCK" namespaces ls -q 2>/dev/null || true); do
		for id in $(timeout 5 ctr --address "$CTD_SOCK" -n "$ns" containers ls -q 2>/dev/null || true); do
			leaks+=("container $ns/$id")
		done
	done
	# Mounts and rules cannot be told apart between runs: checked only when no other run is going on.
	for other in /var/tmp/paas-test.*; do
		[[ $other != "$RUN_DIR" && -d $other ]] || continue
		if alive_in "$(cat "$other/owner" 2>/dev/null)" run.sh; then
			note "another test run is going on ($other): only containers checked for leaks"
			alone=0
		fi
	done
	if ((alone)); then
		while read -r m; do
			[[ -n $m ]] && leaks+=("mount $m")
		done < <(comm -13 <(printf '%s\n' "$mounts_before") <(test_mounts))
		for b in $(comm -13 <(printf '%s\n' "$bridges_before") <(ip -o link show type bridge 2>/dev/null | awk -F': ' '{print $2}' | grep '^ptst' | sort || true)); do
			net=$(ip -4 route show dev "$b" proto kernel 2>/dev/null | awk 'NR == 1 { print $1 }')
			[[ -n $net ]] || continue
			# Rules name the subnet (10.235.1.0/24) or one of its addresses (10.235.1.7/32).
			case $net in
			*.0/24) m=${net%.0/24}. ;;
			*) m=$net ;;
			esac
			n=$(iptables-save 2>/dev/null | grep -cF -- "$m" || true)
			((n == 0)) || leaks+=("$n iptables rules for $net (bridge $b)")
			# The isolation rules of containers and apps that are gone: port chains, app sets.
			n=$(nft list table netdev "paas-$b" 2>/dev/null | grep -cE '^\s*(chain port-|set app-)' || true)
			((n == 0)) || leaks+=("$n nftables port chains or app sets in table netdev paas-$b")
		done
	fi
	if ((${#leaks[@]})); then
		say "the tests left behind:"
		printf '    %s\n' "${leaks[@]}"
		return 1
	fi
	note "the tests left no containers, mounts, iptables rules or nftables port chains behind"
}

if (($#)); then test_args=("$@"); else test_args=(./...); fi
say "go test -count=1 -timeout 30m ${test_args[*]}"
test_status=0
go test -count=1 -timeout 30m "${test_args[@]}" || test_status=$?
((test_status == 0)) || failed+=("go test")
leak_check || failed+=("leak check")

if ((${#failed[@]})); then
	say "FAILED: ${failed[*]}"
	status=$test_status
	((status)) || status=1
else
	say "all passed"
fi
exit "$status"
