#!/usr/bin/env bash
# Repeatability of `ectool mqtt check --deny-topic`: runs the built binary N
# times against mosquitto with an ACL, once configured with
# max_queued_messages 0 (Debian 12's 2.0.11 then closes the connection after
# every refused publish: upstream issue 3244) and once with 1000 (the
# default), on MQTT 5 and 3.1.1, and prints how often each verdict came out.
# A verdict is the mqtt.acl_deny status, the exit code and the evidence that
# decides it (subscribe, publish, publisher connection, delivered). It fails
# when one setting gives more than one verdict.
#
#   scripts/repeat-acl-deny.sh            # builds ectool, N=50
#   ECTOOL_BIN=./ectool N=200 QUEUES=0 VERSIONS=5 scripts/repeat-acl-deny.sh
set -euo pipefail

N=${N:-50}
QUEUES=${QUEUES:-"0 1000"}
VERSIONS=${VERSIONS:-"5 3.1.1"}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for p in mosquitto mosquitto_passwd jq; do
  command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || { echo "missing $p (apt-get install mosquitto jq)" >&2; exit 3; }
done
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
PASSWD=$(command -v mosquitto_passwd || echo /usr/sbin/mosquitto_passwd)

if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool)
fi
commit=$(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown)

"$PASSWD" -c -b "$work/passwd" meter s3cret
printf 's3cret\n' > "$work/meter.password"
chmod 600 "$work/meter.password"
printf 'user meter\ntopic readwrite devices/meter/#\n' > "$work/acl"

# start_broker QUEUE: mosquitto on a free loopback port, in $port.
start_broker() {
  local queue=$1 pid
  for _ in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + RANDOM % 40000 ))
    cat > "$work/m$queue.conf" <<CONF
user root
persistence false
log_dest stderr
log_type error
per_listener_settings false
password_file $work/passwd
allow_anonymous false
acl_file $work/acl
max_queued_messages $queue
max_inflight_messages 0
listener $port 127.0.0.1
CONF
    "$MOSQUITTO" -c "$work/m$queue.conf" >"$work/m$queue.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      pids+=("$pid")
      return
    fi
  done
  echo "could not start mosquitto: $(cat "$work/m$queue.log")" >&2
  exit 3
}

echo "ectool $commit, $("$MOSQUITTO" -h 2>/dev/null | head -1), $N runs per row"
printf '%-26s %-8s %5s  %s\n' "max_queued_messages" "MQTT" "runs" "verdict"
rc=0
for queue in $QUEUES; do
  start_broker "$queue"
  for version in $VERSIONS; do
    : > "$work/verdicts"
    for _ in $(seq "$N"); do
      set +e
      out=$("$ECTOOL_BIN" mqtt check -o json -b "mqtt://127.0.0.1:$port" --mqtt-version "$version" \
        -u meter --password-file "$work/meter.password" --count 3 --timeout 3s \
        --topic-prefix devices/meter/check --deny-topic devices/other/telemetry)
      code=$?
      set -e
      echo "$out" | jq -r --arg code "$code" '(.first_failure.id // "none") as $ff | .checks[] | select(.id == "mqtt.acl_deny") |
        "\(.status) exit=\($code) first_failure=\($ff) subscribe=\(.evidence.subscribe) publish=\(.evidence.publish) publisher=\(.evidence.publisher_connection // "-") delivered=\(.evidence.delivered)"' >> "$work/verdicts"
      # A failure elsewhere in the ladder is shown in full: it is a defect to find.
      echo "$out" | jq -r '.first_failure.id as $ff | select($ff != null) | .checks[] | select(.id == $ff) | "  \(.id): \(.evidence) hint: \(.hint)"' >&2
    done
    kinds=$(sort "$work/verdicts" | uniq -c | sort -rn)
    while read -r count verdict; do
      printf '%-26s %-8s %5s  %s\n' "$queue" "$version" "$count" "$verdict"
    done <<< "$kinds"
    if [ "$(echo "$kinds" | wc -l)" -ne 1 ]; then
      echo "  -> more than one verdict for max_queued_messages $queue, MQTT $version" >&2
      rc=1
    fi
  done
done
exit $rc
