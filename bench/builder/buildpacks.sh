#!/usr/bin/env bash
# bench/builder/buildpacks.sh — buildpack builds of a Node.js app and a Go app on the Debian stacks:
# cold build, no-change rebuild and code-only rebuild, each as a ratio against the cold build.
#
#   sudo bench/builder/buildpacks.sh       (Debian, as root; needs containerd, runc, the CNI plugins
#                                          and debootstrap — installed if missing)
#
# Starts a private containerd, makes the stacks (cached by recipe in $PAAS_STACK_CACHE, default
# /var/cache/paas-test/stacks, as the tests do), gives builds a network on a bridge of its own, and
# builds each app: cold (empty build cache; node, npm and the Go toolchain are downloaded), then
# $RUNS times (default 3) again with no change and after one source file changed, reporting the
# median of each. Node.js and npm come from
# the npm registry the host's npm uses (or $npm_config_registry), Go from the host's GOPROXY.
# Everything it makes lives in one temporary directory.
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "buildpacks.sh: run as root" >&2; exit 1; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'buildpacks.sh: %s\n' "$*" >&2; exit 1; }
# shellcheck source=deploy/lib.sh
. deploy/lib.sh
ensure_packages containerd runc containernetworking-plugins debootstrap iproute2 iptables

STACKS=${PAAS_STACK_CACHE:-/var/cache/paas-test/stacks}
REGISTRY=${npm_config_registry:-$(npm config get registry 2>/dev/null || true)}
GOPROXY_URL=$(go env GOPROXY)
GOPROXY_URL=${GOPROXY_URL%%,*}
[[ $REGISTRY == http* ]] || die "no npm registry: set npm_config_registry or configure the host's npm"
[[ $GOPROXY_URL == http* ]] || die "no Go module proxy: set GOPROXY"
BRIDGE=pbench$(($$ % 100000))
SUBNET=${BENCH_SUBNET:-10.78.252.0/24}

WORK=$(mktemp -d /var/tmp/paas-bench-bp.XXXXXX)

# shellcheck source=bench/builder/lib.sh
source bench/builder/lib.sh # from the repository root (cd above)
trap cleanup EXIT

# --- containerd, the stacks ------------------------------------------------------------------
start_containerd

go build -o "$WORK/paasbuild" ./bench/builder/paasbuild
PB=("$WORK/paasbuild" -containerd "$WORK/ctd/sock" -namespace paas-bench)
say "making the stacks (cached in $STACKS)"
"${PB[@]}" -stacks "$STACKS" 2>"$WORK/stacks.log" || { tail -n 20 "$WORK/stacks.log" >&2; exit 1; }
CA=()
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && CA=(-ca /etc/ssl/certs/ca-certificates.crt)
BUILD=("${PB[@]}" -bridge "$BRIDGE" -subnet "$SUBNET" -net-state "$WORK/net" "${CA[@]}"
	-env "npm_config_registry=$REGISTRY" -env "GOPROXY=$GOPROXY_URL")

# --- the apps --------------------------------------------------------------------------------
mkdir -p "$WORK/node" "$WORK/go/greet"
cp builder/testdata/apps/node/* "$WORK/node/"
cat >"$WORK/go/go.mod" <<'EOF'
module example.com/hello

go 1.22.5

require example.com/greet v0.0.0

replace example.com/greet => ./greet
EOF
printf 'module example.com/greet\n\ngo 1.22\n' >"$WORK/go/greet/go.mod"
printf 'package greet\n\nfunc Hello(who string) string { return "hello from " + who }\n' >"$WORK/go/greet/greet.go"
cat >"$WORK/go/main.go" <<'EOF'
package main

import (
	"fmt"
	"net/http"
	"os"

	"example.com/greet"
)

const version = "v1"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, greet.Hello("go"), version) })
	panic(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
EOF
change() { # change APP N: a code-only change (the version string becomes vN)
	case $1 in
	node) sed -i "s/\"v[0-9]*\"/\"v$2\"/" "$WORK/node/server.js" ;;
	go) sed -i "s/\"v[0-9]*\"/\"v$2\"/" "$WORK/go/main.go" ;;
	esac
}
build() { # build APP LOG: prints the seconds it took
	local t0
	t0=$(now)
	"${BUILD[@]}" -app "bench-$1" -dir "$WORK/$1" >/dev/null 2>"$WORK/$2.log" || { tail -n 30 "$WORK/$2.log" >&2; exit 1; }
	elapsed "$t0"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# --- timings: cold once; no-change and code-only RUNS times each, the median -------------------
RUNS=${RUNS:-3}
declare -A T
for app in node go; do
	say "$app: cold build"
	T[$app.cold]=$(build "$app" "$app-cold")
	nochange=() codeonly=()
	for ((i = 1; i <= RUNS; i++)); do
		say "$app: no-change build $i"
		nochange+=("$(build "$app" "$app-nochange")")
		change "$app" $((i + 1))
		say "$app: code-only build $i"
		codeonly+=("$(build "$app" "$app-codeonly")")
	done
	T[$app.nochange]=$(median "${nochange[@]}")
	T[$app.codeonly]=$(median "${codeonly[@]}")
	say "$app: no-change ${nochange[*]} s; code-only ${codeonly[*]} s"
	grep -h -- '----->\|done in\|exported in' "$WORK/$app-codeonly.log" | sed 's/^/    last code-only: /' >&2
done

printf '\n%-19s %10s %12s %12s %14s %16s\n' "app (median of $RUNS)" "cold s" "no-change s" "code-only s" "no-change/cold" "code-only/cold"
for app in node go; do
	awk -v a="$app" -v c="${T[$app.cold]}" -v n="${T[$app.nochange]}" -v o="${T[$app.codeonly]}" \
		'BEGIN { printf "%-19s %10.2f %12.2f %12.2f %14.3f %16.3f\n", a, c, n, o, n / c, o / c }'
done
