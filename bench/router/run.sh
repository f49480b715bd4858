#!/usr/bin/env bash
# bench/router/run.sh — the paas router against nginx, on loopback only.
#
# One small Go backend; wrk drives it three ways in one run: directly,
# through the paas router, and through nginx with a keep-alive upstream —
# and, as a reference, through net/http/httputil's ReverseProxy alone
# ("stdlib"). Prints requests/s and p50/p99 latency for each, the proxy's
# CPU time per request (user+system, which other load on the machine does
# not skew as it does throughput), and the router/nginx ratios (goal:
# throughput >= 0.95x nginx, p99 <= 1.2x nginx). Last, it times a routing
# table update with 10,000 apps (BenchmarkUpdate10000Apps in router/).
#
# Usage: bench/router/run.sh            (from anywhere in the repository)
# Env:   DURATION=5s ROUNDS=5 CONNECTIONS=64 THREADS=1 WARMUP=2s BASE_PORT=18080
#        WORKERS=$(nproc) ROUTER_GOGC=400  (GOGC for the Go proxies: 400 is what paas server and
#        paas router set when the operator sets no GOGC; ROUTER_GOGC=100 for Go's own default)
#
# wrk's requests (HTTP/1.1, an app's exact domain) take the router's fast
# path, as apps' plain-HTTP traffic does; "stdlib" shows what net/http's
# server and ReverseProxy alone cost on the same machine.
#
# Fairness: nginx runs WORKERS worker processes and the Go proxies
# (router, stdlib) run with GOMAXPROCS=WORKERS, so each may use the same
# number of cores at once; the backend and wrk share the same cores. nginx
# keeps client and upstream connections open for as many requests as the
# Go proxies do (keepalive_requests raised from its default of 1000, which
# would make it reconnect every 1000 requests). Neither writes an access
# log (the router's access-log hook is not set here, and nginx's is off).
#
# The three targets are measured in turn, ROUNDS times, and each figure is
# the median of its rounds, so that a burst of other load on the machine
# does not land on one target only.
#
# Needs wrk and nginx (Debian packages); installs them with apt-get when
# missing and run as root. Everything binds 127.0.0.1 and is stopped on exit.
set -euo pipefail

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
WARMUP=${WARMUP:-2s}
BASE_PORT=${BASE_PORT:-18080}
WORKERS=${WORKERS:-$(nproc)}
ROUTER_GOGC=${ROUTER_GOGC:-400}
BACKEND=127.0.0.1:$((BASE_PORT + 1))
ROUTER=127.0.0.1:$((BASE_PORT + 2))
NGINX=127.0.0.1:$((BASE_PORT + 3))
BARE=127.0.0.1:$((BASE_PORT + 4))
HOST=app.localhost

cd "$(dirname "$0")/../.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "run.sh: missing ${need[*]}; install them (apt-get install ${need[*]}) or run as root" >&2
		exit 1
	fi
	echo "installing ${need[*]}..." >&2
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/benchrouter" ./bench/router

wait_port() { # wait_port ADDR: up to 5 s for a listener
	for _ in $(seq 50); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "run.sh: nothing listens on $1" >&2
	exit 1
}

"$work/benchrouter" backend -addr "$BACKEND" & pids+=($!)
env GOMAXPROCS=$WORKERS ${ROUTER_GOGC:+GOGC=$ROUTER_GOGC} "$work/benchrouter" router -addr "$ROUTER" -backend "$BACKEND" -host "$HOST" & pids+=($!)
router_pid=$!
env GOMAXPROCS=$WORKERS ${ROUTER_GOGC:+GOGC=$ROUTER_GOGC} "$work/benchrouter" bare -addr "$BARE" -backend "$BACKEND" & pids+=($!)
bare_pid=$!

mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes $WORKERS;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	upstream app {
		server $BACKEND;
		keepalive 256;
		keepalive_requests 1000000000;
	}
	keepalive_requests 1000000000;
	server {
		listen $NGINX;
		server_name $HOST;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host \$host;
			proxy_set_header X-Forwarded-For \$remote_addr;
			proxy_set_header X-Forwarded-Host \$host;
			proxy_set_header X-Forwarded-Proto \$scheme;
			proxy_set_header X-Forwarded-Port \$server_port;
			proxy_set_header X-Request-Id \$request_id;
		}
	}
}
EOF
"$NGINX_BIN" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr" & pids+=($!)
nginx_pid=$!

wait_port "$BACKEND"
wait_port "$ROUTER"
wait_port "$NGINX"
wait_port "$BARE"

CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID: user+system ticks of PID and its children (nginx's workers).
cpu_ticks() {
	local sum=0 p
	for p in "$1" $(awk -v pp="$1" '$4 == pp {print $1}' /proc/[0-9]*/stat 2>/dev/null); do
		[ -r "/proc/$p/stat" ] && sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat")))
	done
	echo "$sum"
}

# to_ms VALUE: wrk's "1.23ms", "456.00us" or "1.02s" in milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /m$/) { sub(/m$/, "", v); printf "%.3f", v * 60000 }
		else { sub(/s$/, "", v); printf "%.3f", v * 1000 } }'
}

declare -A RPS P50 P99 CPU
run() { # run NAME ADDR [PID]: one measurement, appended to RPS, P50, P99, CPU
	local out t0=0 t1=0
	[ -n "${3:-}" ] && t0=$(cpu_ticks "$3")
	out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Host: $HOST" "http://$2/")
	if grep -q "Non-2xx" <<<"$out"; then
		echo "run.sh: $1 answered non-2xx:" >&2
		echo "$out" >&2
		exit 1
	fi
	RPS[$1]+=" $(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
	if [ -n "${3:-}" ]; then
		t1=$(cpu_ticks "$3")
		CPU[$1]+=" $(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" '/ requests in / {printf "%.1f", t * 1e6 / hz / $1}' <<<"$out")"
	fi
	P50[$1]+=" $(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
	P99[$1]+=" $(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
}
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

for addr in "$BACKEND" "$ROUTER" "$NGINX" "$BARE"; do
	wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" -H "Host: $HOST" "http://$addr/" >/dev/null
done
for round in $(seq "$ROUNDS"); do
	echo "round $round/$ROUNDS..." >&2
	run direct "$BACKEND"
	run router "$ROUTER" "$router_pid"
	run nginx "$NGINX" "$nginx_pid"
	run stdlib "$BARE" "$bare_pid"
done
for n in direct router nginx stdlib; do
	RPS[$n]=$(median "${RPS[$n]}")
	P50[$n]=$(median "${P50[$n]}")
	P99[$n]=$(median "${P99[$n]}")
	[ -n "${CPU[$n]:-}" ] && CPU[$n]=$(median "${CPU[$n]}")
done

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, median of $ROUNDS rounds, $(nproc) cores, everything on 127.0.0.1;"
echo "nginx worker_processes $WORKERS, Go proxies GOMAXPROCS=$WORKERS GOGC=${ROUTER_GOGC:-100}"
printf '%-8s %12s %10s %10s %16s\n' "" "requests/s" "p50 ms" "p99 ms" "proxy CPU us/req"
for n in direct router nginx stdlib; do
	printf '%-8s %12.0f %10.3f %10.3f %16s\n' "$n" "${RPS[$n]}" "${P50[$n]}" "${P99[$n]}" "${CPU[$n]:--}"
done
awk -v r="${RPS[router]}" -v n="${RPS[nginx]}" -v rp="${P99[router]}" -v np="${P99[nginx]}" \
	-v r5="${P50[router]}" -v n5="${P50[nginx]}" -v rc="${CPU[router]}" -v nc="${CPU[nginx]}" 'BEGIN {
	printf "router/nginx: throughput %.2fx (goal >= 0.95x), p50 %.2fx, p99 %.2fx (goal <= 1.2x), CPU per request %.2fx\n", r / n, r5 / n5, rp / np, rc / nc }'

# A whole-table swap with 10,000 apps (20,000 host names, 100 wildcards,
# 30,000 endpoints), built and swapped in while nothing else runs.
go test -run '^$' -bench '^BenchmarkUpdate10000Apps$' -benchtime 5x ./router/ |
	awk '/^BenchmarkUpdate10000Apps/ {printf "table update, 10,000 apps: %.0f ms (mean of %d; %.0f MB and %d allocations each)\n", $3 / 1e6, $2, $5 / 1e6, $7}'
