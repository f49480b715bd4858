# bench/builder/lib.sh — shared by bench.sh and buildpacks.sh: timing helpers, a private
# containerd under $WORK (its own root, state, sockets) and the cleanup that stops it and removes
# $WORK (and the bridge $BRIDGE, if set). Sourced, not run, from the repository root; the caller
# sets WORK first.

CTD_PID=
cleanup() {
	local id m
	if [[ -n $CTD_PID ]]; then
		for id in $(ctr --address "$WORK/ctd/sock" -n paas-bench tasks ls -q 2>/dev/null || true); do
			ctr --address "$WORK/ctd/sock" -n paas-bench tasks delete -f "$id" >/dev/null 2>&1 || true
		done
		kill "$CTD_PID" 2>/dev/null || true
		wait "$CTD_PID" 2>/dev/null || true
	fi
	[[ -z ${BRIDGE:-} ]] || ip link delete "$BRIDGE" 2>/dev/null || true
	awk -v d="$WORK/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$WORK"
}

now() { echo "${EPOCHREALTIME/[,]/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# start_containerd: starts containerd on $WORK/ctd/sock and waits until it answers.
start_containerd() {
	local i
	mkdir -p "$WORK/ctd"
	cat >"$WORK/ctd/config.toml" <<EOF2
version = 2
root = "$WORK/ctd/root"
state = "$WORK/ctd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$WORK/ctd/sock"
[ttrpc]
  address = "$WORK/ctd/sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/ctd/opt"
EOF2
	setsid containerd --config "$WORK/ctd/config.toml" >"$WORK/ctd/log" 2>&1 </dev/null &
	CTD_PID=$!
	for ((i = 0; i < 100; i++)); do ctr --address "$WORK/ctd/sock" version >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "containerd did not answer on $WORK/ctd/sock" >&2
	return 1
}
