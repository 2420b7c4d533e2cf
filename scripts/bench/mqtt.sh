#!/usr/bin/env bash
# Benchmark: ectool mqtt pub/sub against mosquitto_pub -l / mosquitto_sub -C,
# on a local mosquitto started here (free loopback port, no queue limits).
#
#   scripts/bench/mqtt.sh            # builds ectool, runs, prints a table
#   ECTOOL_BIN=./ectool N0=100000 N1=20000 scripts/bench/mqtt.sh
#
# Publishing: each publisher sends N 64-byte messages (the same payload) to a
# topic nobody subscribes to; rate = N / wall time of the process (start,
# connect, send, wait for the last acknowledgement, disconnect).
# Receiving: the subscriber under test registers a persistent session and
# goes away, mosquitto_pub -l sends N messages which the broker queues for
# it, then the subscriber comes back and drains them: rate = N / wall time of
# that second run. So the figure is the subscriber's (and the broker's
# delivery), not the publisher's speed.
set -euo pipefail

N0=${N0:-100000}   # QoS 0 messages
N1=${N1:-20000}    # QoS 1 messages
ROUNDS=${ROUNDS:-3} # best of ROUNDS per measurement
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for p in mosquitto mosquitto_pub mosquitto_sub; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "missing $p (apt-get install mosquitto mosquitto-clients)" >&2; exit 3; }
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool)
fi

# Start mosquitto on a free port, retrying when the port is taken.
for attempt in 1 2 3 4 5 6 7 8; do
  port=$(( 20000 + RANDOM % 40000 ))
  cat > "$work/mosquitto.conf" <<CONF
user root
persistence false
log_dest stderr
log_type error
max_queued_messages 0
max_inflight_messages 0
queue_qos0_messages true
allow_anonymous true
listener $port 127.0.0.1
CONF
  "$MOSQUITTO" -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
  pid=$!
  for _ in $(seq 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then break; fi
  pid=""
done
[ -n "$pid" ] || { echo "could not start mosquitto:" >&2; cat "$work/mosquitto.log" >&2; exit 3; }
B="mqtt://127.0.0.1:$port"

payload=$(head -c 64 /dev/zero | tr '\0' 'x')
awk -v n="$N0" -v p="$payload" 'BEGIN { for (i = 0; i < n; i++) print p }' > "$work/lines0"
awk -v n="$N1" -v p="$payload" 'BEGIN { for (i = 0; i < n; i++) print p }' > "$work/lines1"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" -v e="$3" 'BEGIN { printf "%.0f", n / (e - s) }'; }
best() { printf '%s\n' "$@" | sort -n | tail -1; }

pub_ectool() { # qos n
  local s e
  s=$(now); "$ECTOOL_BIN" mqtt pub -b "$B" -t bench/pub -m "$payload" -q "$1" --count "$2" >/dev/null; e=$(now)
  rate "$2" "$s" "$e"
}
pub_mosquitto() { # qos n
  local s e
  s=$(now); mosquitto_pub -h 127.0.0.1 -p "$port" -t bench/pub -q "$1" -l < "$work/lines$1"; e=$(now)
  rate "$2" "$s" "$e"
}
# sub_rate qos n register-cmd -- drain-cmd: register a persistent session,
# queue n messages for it, time the drain.
sub_rate() {
  local q=$1 n=$2; shift 2
  local reg=() drain=()
  while [ "$1" != "--" ]; do reg+=("$1"); shift; done
  shift; drain=("$@")
  "${reg[@]}" >/dev/null 2>&1 || true
  mosquitto_pub -h 127.0.0.1 -p "$port" -t bench/sub -q "$q" -l < "$work/lines$q"
  local s e
  s=$(now)
  "${drain[@]}" > "$work/sub.out" 2>"$work/sub.err" || { echo "subscriber failed: $(cat "$work/sub.err")" >&2; echo 0; return; }
  e=$(now)
  local got; got=$(wc -l < "$work/sub.out")
  [ "$got" -ge "$n" ] || echo "subscriber printed $got of $n lines" >&2
  rate "$n" "$s" "$e"
}
sub_ectool() {
  local e=("$ECTOOL_BIN" mqtt sub -b "$B" -t bench/sub -q "$1" --client-id "bench-ectool-$1" --clean-start=false)
  sub_rate "$1" "$2" "${e[@]}" --timeout 1s -- "${e[@]}" --count "$2" --timeout 300s
}
sub_mosquitto() {
  local m=(mosquitto_sub -h 127.0.0.1 -p "$port" -t bench/sub -q "$1" -i "bench-mosquitto-$1" -c)
  sub_rate "$1" "$2" "${m[@]}" -E -- "${m[@]}" -C "$2"
}

declare -A R
for q in 0 1; do
  n=$N0; [ "$q" = 1 ] && n=$N1
  for what in pub_ectool pub_mosquitto sub_ectool sub_mosquitto; do
    runs=()
    for _ in $(seq "$ROUNDS"); do runs+=("$($what "$q" "$n")"); done
    R[$what.$q]=$(best "${runs[@]}")
  done
done

ver=$("$MOSQUITTO" -h 2>/dev/null | head -1 || true)
echo "mqtt benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $ver"
echo "64-byte payloads, best of $ROUNDS runs, messages/s"
printf '%-28s %12s %12s %8s\n' "" "ectool" "mosquitto" "ratio"
for q in 0 1; do
  n=$N0; [ "$q" = 1 ] && n=$N1
  for dir in pub sub; do
    e=${R[${dir}_ectool.$q]}; m=${R[${dir}_mosquitto.$q]}
    label="$dir QoS $q ($n msgs)"
    printf '%-28s %12s %12s %8s\n' "$label" "$e" "$m" "$(awk -v e="$e" -v m="$m" 'BEGIN { printf "%.2fx", (m > 0 ? e / m : 0) }')"
  done
done
