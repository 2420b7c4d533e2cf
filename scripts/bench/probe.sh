#!/usr/bin/env bash
# Benchmark: `ectool probe net` with its defaults against a broker in a
# network namespace, healthy and broken in each way the ladder names, beside
# the manual sequence a technician types (ping -c 3, nc -z, openssl
# s_client) timed in the same run. It prints every row of
# docs/benchmarks.md's probe section and the commit it measured.
#
#   sudo scripts/bench/probe.sh                 # builds ectool, runs, prints a table
#   sudo ECTOOL_BIN=./ectool ROUNDS=5 scripts/bench/probe.sh
#
# Needs root (namespaces), iproute2, nftables, dnsmasq-base, mosquitto,
# openssl, iputils-ping, netcat-openbsd, python3. Everything lives in
# namespaces named ectool-bench-*-PID, deleted on exit, and in
# /etc/netns/<client namespace>/resolv.conf (ip netns exec shows it to the
# client as /etc/resolv.conf, so ectool and the manual tools ask the same
# resolver), removed on exit.
#
# Topology: client ⇄ server (10.200.1.0/30) for every scenario but the
# black hole, which goes client ⇄ router ⇄ server2 (10.200.2.0/30,
# 10.200.3.0/30) with the router's client-facing end at MTU 1400 and
# ICMP "fragmentation needed" dropped on the router; server2 serves a
# 4096-bit chain with an intermediate. The broker is mosquitto with TLS on
# 8883; DNS is dnsmasq on the server (broker.test, nxdomain for the rest
# of .test).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
tag=$$
C=ectool-bench-c-$tag S=ectool-bench-s-$tag R=ectool-bench-r-$tag S2=ectool-bench-s2-$tag
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in $C $S $R $S2; do ip netns delete "$n" 2>/dev/null || true; done
  rm -rf "/etc/netns/$C" "$work"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)" >&2; exit 3; }
for p in ip nft dnsmasq mosquitto openssl ping nc python3; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "missing $p" >&2; exit 3; }
done
export PATH="$PATH:/usr/sbin:/sbin"

if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -trimpath -o "$ECTOOL_BIN" ./cmd/ectool)
fi
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain 2>/dev/null | grep -qv '^??' && echo "+changes" || true)

# --- certificates (openssl): a short chain and a long one ---
cd "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 30 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr -subj "/CN=broker.test" 2>/dev/null
printf 'subjectAltName=DNS:broker.test\n' > san.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 30 -extfile san.ext 2>/dev/null
openssl req -x509 -newkey rsa:4096 -nodes -keyout root.key -out root.pem -days 30 -subj "/CN=bench root" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\n' > ca.ext
openssl req -newkey rsa:4096 -nodes -keyout int.key -out int.csr -subj "/CN=bench intermediate" 2>/dev/null
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -out int.pem -days 30 -extfile ca.ext 2>/dev/null
openssl req -newkey rsa:4096 -nodes -keyout long.key -out long.csr -subj "/CN=broker.test" 2>/dev/null
openssl x509 -req -in long.csr -CA int.pem -CAkey int.key -CAcreateserial -out long-leaf.pem -days 30 -extfile san.ext 2>/dev/null
cat long-leaf.pem int.pem > long.pem

# --- namespaces ---
for n in $C $S $R $S2; do ip netns add "$n"; ip -n "$n" link set lo up; done
link() { # link NS_A DEV_A ADDR_A NS_B DEV_B ADDR_B
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/30" dev "$2"; ip -n "$1" link set "$2" up
  ip -n "$4" addr add "$6/30" dev "$5"; ip -n "$4" link set "$5" up
}
link $C cs0 10.200.1.1 $S sc0 10.200.1.2
link $C cr0 10.200.2.1 $R rc0 10.200.2.2
link $R rs0 10.200.3.1 $S2 sr0 10.200.3.2
ip netns exec $R sysctl -qw net.ipv4.ip_forward=1
ip -n $C route add 10.200.3.0/30 via 10.200.2.2
ip -n $S2 route add default via 10.200.3.1
ip -n $R link set rc0 mtu 1400
ip netns exec $R nft -f - <<'NFT'
table inet bench {
  chain output {
    type filter hook output priority 0;
    icmp type destination-unreachable icmp code frag-needed drop
  }
}
NFT
mkdir -p "/etc/netns/$C"
echo "nameserver 10.200.1.2" > "/etc/netns/$C/resolv.conf"

start() { # start NS LOGFILE READY CMD...
  local ns=$1 log=$2 ready=$3; shift 3
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 300); do grep -q "$ready" "$log" && return 0; sleep 0.05; done
  echo "not ready: $*" >&2; cat "$log" >&2; exit 1
}
start $S dnsmasq.log "cleared cache" dnsmasq --no-daemon --no-resolv --no-hosts --conf-file=/dev/null --pid-file= \
  --bind-interfaces --listen-address=10.200.1.2 --local=/test/ --host-record=broker.test,10.200.1.2 --log-facility=- --user=root
# Two more resolvers on the server, on port 53 so resolv.conf can name
# them: one whose upstream is cut off (SERVFAIL to everything), one that
# never answers.
ip -n $S addr add 10.200.9.1/32 dev sc0
ip -n $S addr add 10.200.9.2/32 dev sc0
ip -n $C route add 10.200.9.0/24 via 10.200.1.2
cat > servfail.py <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.200.9.1", 53)); print("ready", flush=True)
while True:
    q, a = s.recvfrom(2048)
    s.sendto(q[:2] + bytes([0x81, 0x82]) + q[4:6] + b"\0\0\0\0\0\0" + q[12:], a)
PY
start $S servfail.log ready python3 servfail.py
# A resolver that never answers.
cat > silent.py <<'PY'
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.200.9.2", 53)); print("ready", flush=True)
while True: s.recvfrom(2048)
PY
start $S silent.log ready python3 silent.py
conf() { printf 'user root\npersistence false\nlog_dest stderr\nallow_anonymous true\nlistener 8883 %s\ncertfile %s\nkeyfile %s\n' "$1" "$2" "$3"; }
conf 10.200.1.2 "$work/srv.pem" "$work/srv.key" > m1.conf
conf 10.200.3.2 "$work/long.pem" "$work/long.key" > m2.conf
start $S m1.log " running" mosquitto -c "$work/m1.conf"
start $S2 m2.log " running" mosquitto -c "$work/m2.conf"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2-$1:.2f}')"; }

# ectool NAME ARGS...: runs probe net in the client namespace with its
# defaults; sets E_S (seconds), E_CODE and E_VERDICT (first failure, or
# the warnings).
ectool_run() {
  local t0 t1
  t0=$(now)
  set +e
  ip netns exec $C "$ECTOOL_BIN" probe net -o json "$@" > out.json 2>/dev/null
  E_CODE=$?
  set -e
  t1=$(now)
  E_S=$(elapsed "$t0" "$t1")
  E_VERDICT=$(python3 - <<'PY'
import json
r = json.load(open("out.json"))
ff = r.get("first_failure")
if ff:
    print(ff["id"] + " failed")
else:
    w = [c["id"] for c in r["checks"] if c["status"] == "warning"]
    print("ok" + (" (warning: " + ", ".join(w) + ")" if w else ""))
PY
)
}

# manual HOST CAFILE: the sequence a technician types, with the waits a
# technician would give each (-w 5, timeout 5), sets M_S.
manual_run() {
  local t0 t1
  t0=$(now)
  set +e
  ip netns exec $C ping -c 3 -W 5 "$1" >/dev/null 2>&1
  ip netns exec $C nc -z -w 5 "$1" 8883 >/dev/null 2>&1
  ip netns exec $C timeout 5 openssl s_client -connect "$1:8883" -servername broker.test -CAfile "$2" -verify_return_error </dev/null >/dev/null 2>&1
  set -e
  t1=$(now)
  M_S=$(elapsed "$t0" "$t1")
}

resolver() { echo "nameserver $1" > "/etc/netns/$C/resolv.conf"; }

nft_server() {
  ip netns exec $S nft flush ruleset
  [ -z "$1" ] || printf 'table inet bench {\n  chain input {\n    type filter hook input priority 0;\n    %s\n  }\n}\n' "$1" | ip netns exec $S nft -f -
}

echo "# probe net benchmark, commit $commit$dirty, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# peers: mosquitto $(mosquitto -h 2>/dev/null | head -1 | awk '{print $3}'), $(dnsmasq --version | head -1 | awk '{print $1, $3}'), $(openssl version | awk '{print $1, $2}'), $(ping -V 2>&1 | head -1), nftables $(nft --version | awk '{print $2}')"
echo
echo "| run | ectool probe net | exit | wall s | manual (ping -c 3, nc -z, openssl s_client) wall s |"
echo "|---|---|---:|---:|---:|"
best=999
for i in $(seq "$ROUNDS"); do
  ectool_run mqtts://broker.test:8883 --ca "$work/ca.pem"
  manual_run broker.test "$work/ca.pem"
  echo "| healthy $i | $E_VERDICT | $E_CODE | $E_S | $M_S |"
  best=$(python3 -c "print(min($best, $E_S))")
  worst=$(python3 -c "print(max(${worst:-0}, $E_S))")
done
echo
echo "healthy ladder: best ${best}s, worst ${worst}s of $ROUNDS (target: <= 2 s): $(python3 -c "print('PASS' if $worst <= 2 else 'FAIL')")"
echo
echo "Failure scenarios: each step waits at most --timeout (${T:=5} s, the default); the whole run is bounded by 3 x --timeout + 2 s = $((3 * T + 2)) s."
echo "The manual sequence uses the system resolver (glibc: 5 s per try, 2 tries) and the waits given above."
echo
echo "| scenario | ectool verdict | exit | ectool wall s | fails within (documented) | manual wall s |"
echo "|---|---|---:|---:|---|---:|"
scenario() { # NAME DOCUMENTED MANUAL_HOST MANUAL_CA ARGS...
  local name=$1 doc=$2 host=$3 ca=$4; shift 4
  ectool_run "$@"
  manual_run "$host" "$ca"
  echo "| $name | $E_VERDICT | $E_CODE | $E_S | $doc | $M_S |"
}
scenario "name does not exist (NXDOMAIN)" "net.dns: an answer" missing.test "$work/ca.pem" mqtts://missing.test:8883 --ca "$work/ca.pem"
resolver 10.200.9.1
scenario "resolver answers SERVFAIL" "net.dns: an answer" broker.test "$work/ca.pem" mqtts://broker.test:8883 --ca "$work/ca.pem"
resolver 10.200.9.2
scenario "resolver silent" "net.dns: ${T} s" broker.test "$work/ca.pem" mqtts://broker.test:8883 --ca "$work/ca.pem"
resolver 10.200.1.2
nft_server "tcp dport 8883 drop"
scenario "broker port DROPped" "net.tcp: ${T} s" broker.test "$work/ca.pem" mqtts://broker.test:8883 --ca "$work/ca.pem"
nft_server "tcp dport 8883 reject with tcp reset"
scenario "broker port REJECTed" "net.tcp: a reset" broker.test "$work/ca.pem" mqtts://broker.test:8883 --ca "$work/ca.pem"
nft_server "icmp type echo-request drop"
scenario "ICMP filtered, TCP fine (a warning)" "net.icmp: ${T} s" broker.test "$work/ca.pem" mqtts://broker.test:8883 --ca "$work/ca.pem"
nft_server ""
scenario "no route" "net.iface: at once" 198.51.100.1 "$work/ca.pem" 198.51.100.1:8883
scenario "path MTU black hole, 4096-bit chain" "net.pmtu: ~2 s, net.tls: ${T} s (beside it)" 10.200.3.2 "$work/root.pem" mqtts://10.200.3.2:8883 --servername broker.test --ca "$work/root.pem"
