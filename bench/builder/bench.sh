#!/usr/bin/env bash
# bench/builder/bench.sh — the builder against buildah, same Dockerfile, same base image.
#
#   sudo bench/builder/bench.sh            (Debian, as root; needs containerd, runc, buildah,
#                                           busybox-static — installed if missing)
#
# Starts a private containerd, imports the busybox test image (builder/testimage) and exports it as
# an OCI archive for buildah, then times three builds with each tool: cold (empty cache), no-change
# rebuild, and a rebuild after one copied file changed. Prints each time and the ratio
# buildah/paas (above 1: paas is faster). Everything it makes lives in one temporary directory.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "bench.sh: run as root" >&2; exit 1; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=deploy/lib.sh
. deploy/lib.sh
ensure_packages containerd runc buildah busybox-static

VENDOR_FILES=${VENDOR_FILES:-400}
BUILDAH_DRIVER=${BUILDAH_DRIVER:-overlay} # vfs also works, slower

WORK=$(mktemp -d /var/tmp/paas-bench.XXXXXX)

# shellcheck source=bench/builder/lib.sh
source bench/builder/lib.sh # from the repository root (cd above)
trap cleanup EXIT

# --- containerd and the base image ----------------------------------------------------------
start_containerd

go build -o "$WORK/paasbuild" ./bench/builder/paasbuild
PB=("$WORK/paasbuild" -containerd "$WORK/ctd/sock" -namespace paas-bench)
"${PB[@]}" -import-busybox busybox
ctr --address "$WORK/ctd/sock" -n paas-bench images export "$WORK/base.tar" busybox

# --- the app -----------------------------------------------------------------------------------
make_app() { # make_app DIR FROM
	mkdir -p "$1/vendor" "$1/src"
	for ((i = 0; i < VENDOR_FILES; i++)); do
		head -c 4096 /dev/urandom | base64 >"$1/vendor/lib$i.txt"
	done
	for ((i = 0; i < 20; i++)); do echo "source file $i" >"$1/src/file$i.txt"; done
	cat >"$1/Dockerfile" <<EOF
FROM $2
RUN for i in \$(seq 1 20000); do echo "line \$i"; done > /generated.txt
COPY vendor/ /app/vendor/
RUN find /app/vendor -type f | wc -l > /app/count
COPY src/ /app/src/
RUN cat /app/src/*.txt | wc -c > /app/size
CMD ["cat", "/app/count", "/app/size"]
EOF
}
make_app "$WORK/app-paas" busybox
make_app "$WORK/app-buildah" "oci-archive:$WORK/base.tar"
cp -r "$WORK/app-paas/vendor" "$WORK/app-buildah/" # the same content for both

# --- timings -----------------------------------------------------------------------------------
declare -A T
run_paas() { "${PB[@]}" -dir "$WORK/app-paas" >/dev/null 2>"$WORK/paas-$1.log"; }
BA=(buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver "$BUILDAH_DRIVER")
run_buildah() { "${BA[@]}" bud --isolation chroot --layers -t bench "$WORK/app-buildah" >"$WORK/buildah-$1.log" 2>&1; }

for tool in paas buildah; do
	t0=$(now)
	"run_$tool" cold || { tail -n 20 "$WORK/$tool-cold.log" >&2; exit 1; }
	T[$tool.cold]=$(elapsed "$t0")
	t0=$(now)
	"run_$tool" nochange || { tail -n 20 "$WORK/$tool-nochange.log" >&2; exit 1; }
	T[$tool.nochange]=$(elapsed "$t0")
	echo "changed" >>"$WORK/app-$tool/src/file3.txt"
	t0=$(now)
	"run_$tool" onefile || { tail -n 20 "$WORK/$tool-onefile.log" >&2; exit 1; }
	T[$tool.onefile]=$(elapsed "$t0")
done

grep -c "Using cache" "$WORK/paas-nochange.log" | xargs printf 'paas no-change rebuild: %s steps from the cache\n'
printf '\n%-22s %10s %10s %16s\n' "build ($VENDOR_FILES vendor files)" "paas s" "buildah s" "buildah/paas"
for k in cold nochange onefile; do
	awk -v k="$k" -v p="${T[paas.$k]}" -v b="${T[buildah.$k]}" \
		'BEGIN { printf "%-22s %10.2f %10.2f %15.2fx\n", k, p, b, b / p }'
done
