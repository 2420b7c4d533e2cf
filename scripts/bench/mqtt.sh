#!/usr/bin/env bash
# Benchmark: ectool mqtt pub/sub against mosquitto_pub -l / mosquitto_sub -C,
# on a local mosquitto started here (free loopback port, no queue limits).
#
#   scripts/bench/mqtt.sh            # builds ectool, runs, prints the table
#   ECTOOL_BIN=./ectool N0=100000 N1=20000 ROUNDS=3 scripts/bench/mqtt.sh
#
# It prints every row of the mqtt section of docs/benchmarks.md, as Markdown,
# and names the commit it measured.
#
# Publishing: each publisher sends N 64-byte messages (the same payload) to a
# topic nobody subscribes to; rate = N / wall time of the process (start,
# connect, send, wait for the last acknowledgement, disconnect). Two ectool
# rows: --count N with -m (ectool's own loop) and --stdin-lines fed the same
# N lines as mosquitto_pub -l (the same input path).
# Receiving: the subscriber under test registers a persistent session and
# goes away, mosquitto_pub -l sends N messages which the broker queues for
# it, then the subscriber comes back and drains them: rate = N / wall time of
# that second run. So the figure is the subscriber's (and the broker's
# delivery), not the publisher's speed.
#
# Rounds alternate the tools, so each round's ratio compares runs made under
# the same load; the table shows the best rate of each and every round's
# ratio. A round that fails (a non-zero exit, a message short) fails the
# script: a failure is never counted as a slow run.
set -euo pipefail

N0=${N0:-100000}    # QoS 0 messages
N1=${N1:-20000}     # QoS 1 messages
ROUNDS=${ROUNDS:-3} # rounds per measurement
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
die() { echo "mqtt.sh: $*" >&2; exit 1; }

for p in mosquitto mosquitto_pub mosquitto_sub jq; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "missing $p (apt-get install mosquitto mosquitto-clients jq)" >&2; exit 3; }
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+uncommitted changes"
fi
if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool)
else
  commit="$commit (ECTOOL_BIN=$ECTOOL_BIN: $("$ECTOOL_BIN" version -o json | jq -r '.version + " " + .commit'))"
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

# Each measurement prints a rate, or explains on stderr and returns 1.
# ectool's own count of what it sent must be n: exit 0 alone would not show
# a short --stdin-lines read.
ectool_sent() { # n: checks the -o json report in $work/pub.json
  local sent
  sent=$(jq -r '.details.sent' "$work/pub.json" 2>/dev/null) || { echo "ectool pub printed no report: $(cat "$work/pub.json")" >&2; return 1; }
  [ "$sent" = "$1" ] || { echo "ectool pub sent $sent of $1" >&2; return 1; }
}
pub_ectool() { # qos n
  local s e
  s=$(now)
  "$ECTOOL_BIN" mqtt pub -b "$B" -t bench/pub -m "$payload" -q "$1" --count "$2" -o json >"$work/pub.json" 2>"$work/pub.err" ||
    { echo "ectool mqtt pub --count failed: $(cat "$work/pub.err")" >&2; return 1; }
  e=$(now)
  ectool_sent "$2" && rate "$2" "$s" "$e"
}
pub_ectool_lines() { # qos n
  local s e
  s=$(now)
  "$ECTOOL_BIN" mqtt pub -b "$B" -t bench/pub -q "$1" --stdin-lines -o json <"$work/lines$1" >"$work/pub.json" 2>"$work/pub.err" ||
    { echo "ectool mqtt pub --stdin-lines failed: $(cat "$work/pub.err")" >&2; return 1; }
  e=$(now)
  ectool_sent "$2" && rate "$2" "$s" "$e"
}
pub_mosquitto() { # qos n
  local s e
  s=$(now)
  mosquitto_pub -h 127.0.0.1 -p "$port" -t bench/pub -q "$1" -l <"$work/lines$1" 2>"$work/pub.err" ||
    { echo "mosquitto_pub -l failed: $(cat "$work/pub.err")" >&2; return 1; }
  e=$(now)
  rate "$2" "$s" "$e"
}
# sub_rate qos n register-cmd -- drain-cmd: register a persistent session,
# queue n messages for it, time the drain.
sub_rate() {
  local q=$1 n=$2; shift 2
  local reg=() drain=()
  while [ "$1" != "--" ]; do reg+=("$1"); shift; done
  shift; drain=("$@")
  "${reg[@]}" >/dev/null 2>&1 || true # ends on its timeout: only the session matters
  mosquitto_pub -h 127.0.0.1 -p "$port" -t bench/sub -q "$q" -l <"$work/lines$q" ||
    { echo "mosquitto_pub -l could not queue the messages" >&2; return 1; }
  local s e got
  s=$(now)
  "${drain[@]}" >"$work/sub.out" 2>"$work/sub.err" || { echo "${drain[0]##*/} failed: $(cat "$work/sub.err")" >&2; return 1; }
  e=$(now)
  got=$(wc -l <"$work/sub.out")
  [ "$got" -eq "$n" ] || { echo "${drain[0]##*/} printed $got of $n messages" >&2; return 1; }
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

# Rows: label, ectool measurement, the reference it is compared with.
ROWS=(
  "pub --count|pub_ectool|pub_mosquitto"
  "pub --stdin-lines|pub_ectool_lines|pub_mosquitto"
  "sub|sub_ectool|sub_mosquitto"
)
declare -A R # R[what.q.round] = rate
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load=$(cut -d' ' -f1 /proc/loadavg)
for q in 0 1; do
  n=$N0; [ "$q" = 1 ] && n=$N1
  for round in $(seq "$ROUNDS"); do
    for what in pub_ectool pub_ectool_lines pub_mosquitto sub_ectool sub_mosquitto; do
      R[$what.$q.$round]=$("$what" "$q" "$n") || die "round $round of $what at QoS $q failed (see above)"
    done
  done
done

best() { # what q
  local b=0 r
  for round in $(seq "$ROUNDS"); do r=${R[$1.$2.$round]}; [ "$r" -gt "$b" ] && b=$r; done
  echo "$b"
}
ratio() { awk -v e="$1" -v m="$2" 'BEGIN { printf "%.2f×", e / m }'; }
thousands() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\b/,&/' -e 'ta'; }

ver=$("$MOSQUITTO" -h 2>/dev/null | head -1 || true)
echo "mqtt benchmark of commit $commit"
echo "$started, $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $load at the start; $ver"
echo "64-byte payloads; messages/s, best of $ROUNDS rounds; ratio = ectool / mosquitto client"
echo
echo "| 64-byte messages | ectool | mosquitto | ratio | ratio in each round |"
echo "|---|---:|---:|---:|---|"
for q in 0 1; do
  n=$N0; [ "$q" = 1 ] && n=$N1
  for row in "${ROWS[@]}"; do
    IFS='|' read -r label e m <<<"$row"
    rounds=()
    for round in $(seq "$ROUNDS"); do rounds+=("$(ratio "${R[$e.$q.$round]}" "${R[$m.$q.$round]}")"); done
    be=$(best "$e" "$q"); bm=$(best "$m" "$q")
    printf '| %s QoS %d (%s) | %s | %s | %s | %s |\n' "$label" "$q" "$(thousands "$n")" \
      "$(thousands "$be")" "$(thousands "$bm")" "$(ratio "$be" "$bm")" "${rounds[*]}"
  done
done
