#!/usr/bin/env bash
# Benchmark: `ectool modbus watch` polling one lab meter back to back,
# against the physical floor of the line and against mbpoll at its fastest
# poll rate on the same PTY, in the same run. It prints every row of
# docs/benchmarks.md's modbus section and the commit it measured.
#
#   scripts/bench/modbus.sh               # builds ectool, runs, prints a table
#   ECTOOL_BIN=./ectool POLLS=300 ROUNDS=3 scripts/bench/modbus.sh
#
# The work: read 10 holding registers (40001-40010, one FC 03 request of 10
# registers) from unit 1 of `ectool lab` (scenario "default", the Carlo
# Gavazzi EM340 at 1) POLLS times at 9600 8N1 through the lab's PTY, which
# transmits at the wire rate:
#   ectool modbus watch PTY --unit 1 --reg 40001 --count 10 --every 0 --polls POLLS --listen 0
#   mbpoll -m rtu -b 9600 -P none -a 1 -t 4 -r 1 -c 10 -l 10 PTY   (stopped after POLLS answers)
# Rounds alternate the two tools, so each round's ratio compares runs made
# under the same load; a round where a tool missed an answer fails the
# script (a failure is never counted as a slow run).
#
# The rate is measured on the line, not taken from either tool: an observer
# connected to the lab's rtuovertcp:// port (one more adapter on the same
# line, which never transmits) timestamps every byte; the script cuts them
# into frames and takes the time from the start of the first request to the
# start of request POLLS, over POLLS-1 poll periods. The process wall time
# (ectool: start to exit; mbpoll: start to its POLLS-th answer) is shown
# beside it.
#
# The floor, computed here: one poll is the request's wire time (8
# characters), the meter's latency (from the end of the request to the start
# of its answer: the lab's endpoints document gives it, latency_ms; it
# includes the meter's own t3.5 wait), the answer's wire time (5 + 2*10
# characters) and the t3.5 silence the master leaves after the answer before
# its next request. 8N1 is 10 bits a character on the wire (start, 8 data,
# stop; lab/bus/uart.go CharBits), which is what the lab clocks; the
# Modbus specification's 11-bit character (8E1 or 8N2) is shown as a second
# figure, not used for the ratio.
set -euo pipefail

POLLS=${POLLS:-300}
ROUNDS=${ROUNDS:-3}
UNIT=1
REGS=10
BAUD=9600 # the lab scenario's
POLL_MS=10 # mbpoll -l: its fastest (POLLRATE_MIN)
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
lab=""
observer=""
cleanup() {
  [ -n "$observer" ] && kill "$observer" 2>/dev/null
  [ -n "$lab" ] && kill "$lab" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
die() { echo "modbus.sh: $*" >&2; exit 1; }

command -v mbpoll >/dev/null || { echo "missing mbpoll (apt-get install mbpoll)" >&2; exit 3; }
command -v stdbuf >/dev/null || { echo "missing stdbuf (coreutils)" >&2; exit 3; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+uncommitted changes"
fi
if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool)
else
  commit="$commit (ECTOOL_BIN=$ECTOOL_BIN)"
fi

"$ECTOOL_BIN" lab --no-websocket --no-modem --bus-scenario default --duration 60m -o json >"$work/lab.json" 2>"$work/lab.log" &
lab=$!
for _ in $(seq 100); do
  [ -s "$work/lab.json" ] && break
  sleep 0.1
done
[ -s "$work/lab.json" ] || die "the lab did not start: $(cat "$work/lab.log")"
read -r pty rtu latency settings < <("$PY" - "$work/lab.json" "$UNIT" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))["bus"]
m = [m for m in b["meters"] if m["unit_id"] == int(sys.argv[2])]
print(b["pty"], b["rtuovertcp"].split("//")[1], m[0]["latency_ms"], b["settings"].replace(" ", "_"))
PY
)
[ "$settings" = "${BAUD}_8N1" ] || die "the lab's bus runs at $settings, not $BAUD 8N1"
echo "lab bus: $pty ($BAUD 8N1), unit $UNIT answers after $latency ms; observed through rtuovertcp://$rtu" >&2
sleep 1 # let the lab's PTY settle before the first timed run

# observe NAME: timestamp every byte on the line into $work/NAME.obs (one
# "time hex" line per received chunk) until unobserve.
observe() {
  rm -f "$work/$1.ready"
  "$PY" - "$rtu" "$work/$1.obs" "$work/$1.ready" <<'PY' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = open(sys.argv[2], "w")
open(sys.argv[3], "w").close()
while True:
    b = s.recv(4096)
    t = time.monotonic()
    if not b:
        break
    out.write(f"{t:.6f} {b.hex()}\n")
    out.flush()
PY
  observer=$!
  for _ in $(seq 200); do
    [ -e "$work/$1.ready" ] && return
    sleep 0.01
  done
  die "the observer could not connect to rtuovertcp://$rtu"
}
unobserve() {
  sleep 0.3 # the last answer's bytes on their way through the observer
  kill "$observer" 2>/dev/null || true
  wait "$observer" 2>/dev/null || true
  observer=""
}

# run_ectool ROUND: writes the process wall time in s to $work/wall.ectoolROUND.
run_ectool() {
  local s e
  observe "ectool$1"
  s=$("$PY" -c 'import time; print(time.monotonic())')
  "$ECTOOL_BIN" modbus watch "$pty" --unit "$UNIT" --reg 40001 --count "$REGS" --every 0 --polls "$POLLS" --listen 0 -o json \
    >"$work/ectool$1.jsonl" 2>"$work/ectool$1.err" || die "round $1: ectool modbus watch exited $?: $(tail -3 "$work/ectool$1.err")"
  e=$("$PY" -c 'import time; print(time.monotonic())')
  unobserve
  "$PY" - "$work/ectool$1.jsonl" "$POLLS" <<'PY' || die "round $1: ectool did not get every answer"
import json, sys
u = json.loads(open(sys.argv[1]).read().splitlines()[-1])["details"]["watch"]["units"][0]
n = int(sys.argv[2])
if u["polls"] != n or u["answers"] != n or u["exceptions"]:
    sys.exit(f"ectool: {u}")
PY
  awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f", e - s }' >"$work/wall.ectool$1"
}

# run_mbpoll ROUND: mbpoll polls until interrupted; a reader stops it with
# SIGINT (its own Ctrl-C path, which prints its statistics) once it printed
# POLLS answers. Writes the wall time from start to the POLLS-th answer to
# $work/wall.mbpollROUND.
run_mbpoll() {
  observe "mbpoll$1"
  "$PY" - "$pty" "$POLLS" "$REGS" "$POLL_MS" "$BAUD" "$UNIT" "$work/mbpoll$1.out" "$work/mbpoll$1.err" >"$work/wall.mbpoll$1" <<'PY' || { unobserve; die "round $1: mbpoll did not get every answer (see above)"; }
import signal, subprocess, sys, time
pty, polls, regs, poll_ms, baud, unit, out, err = sys.argv[1:9]
polls, regs = int(polls), int(regs)
cmd = ["stdbuf", "-oL", "mbpoll", "-m", "rtu", "-b", baud, "-P", "none", "-a", unit, "-t", "4", "-r", "1",
       "-c", str(regs), "-l", poll_ms, "-o", "1", pty]
s = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(err, "w"), text=True)
o = open(out, "w")
answers, end = 0, None
last = f"[{regs}]:"
deadline = s + 10 * polls  # never a hang: 10 s a poll is far beyond any timeout
for line in p.stdout:
    o.write(line)
    if line.startswith(last):
        answers += 1
        if answers == polls:
            end = time.monotonic()
            p.send_signal(signal.SIGINT)
            break
    if time.monotonic() > deadline:
        break
p.send_signal(signal.SIGINT)
for line in p.stdout:
    o.write(line)
p.wait(timeout=10)
errors = open(err).read().count("failed")
if answers < polls or errors:
    sys.exit(f"mbpoll: {answers} answers of {polls}, {errors} failed reads")
print(f"{end - s:.4f}")
PY
  unobserve
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
  run_ectool "$round"
  run_mbpoll "$round"
done
load="$load0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"

args=()
for round in $(seq "$ROUNDS"); do args+=("$(cat "$work/wall.ectool$round")" "$(cat "$work/wall.mbpoll$round")"); done
"$PY" - "$work" "$POLLS" "$ROUNDS" "$REGS" "$BAUD" "$latency" "$UNIT" "$POLL_MS" "$commit" "$load" "${args[@]}" <<'PY'
import datetime, os, platform, re, statistics, subprocess, sys

work, polls, rounds, regs, baud, latency, unit, poll_ms, commit, load = sys.argv[1:11]
polls, rounds, regs, baud, latency = int(polls), int(rounds), int(regs), int(baud), float(latency)
walls = list(map(float, sys.argv[11:]))


def crc16(b):
    crc = 0xFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc_ok(b):
    return len(b) >= 4 and crc16(b[:-2]) == b[-2] | b[-1] << 8


char_s = 10 / baud  # 8N1 on the wire


def line_frames(name):
    """Line times of the start of each FC 03 request to the unit and of
    the end of each answer."""
    data, times = bytearray(), []
    for line in open(f"{work}/{name}.obs"):
        t, h = line.split()
        chunk = bytes.fromhex(h)
        for i in range(len(chunk)):  # a chunk's last byte ended at t
            times.append(float(t) - (len(chunk) - 1 - i) * char_s)
        data += chunk
    starts, ends, i = [], [], 0
    while i < len(data):
        if data[i] == int(unit) and i + 8 <= len(data) and data[i + 1] == 3 and crc_ok(data[i:i + 8]):
            starts.append(times[i] - char_s)  # the byte's stop bit ended at times[i]
            i += 8
            continue
        n = 5 + 2 * regs
        if data[i] == int(unit) and i + n <= len(data) and data[i + 1] == 3 and crc_ok(data[i:i + n]):
            ends.append(times[i + n - 1])
            i += n
            continue
        i += 1
    return starts, ends


gaps = {}


def line_rate(name):
    starts, ends = line_frames(name)
    if len(starts) < polls or len(ends) < polls:
        sys.exit(f"{name}: the observer saw {len(starts)} requests and {len(ends)} answers, not {polls}")
    # the silence the master left after each answer before its next request
    gaps[name] = [s - e for s, e in zip(starts[1:polls], ends[:polls - 1])]
    return (polls - 1) / (starts[polls - 1] - starts[0])


floor_ms, gap_ms = {}, {}
for bits in (10, 11):
    c = bits * 1000 / baud
    gap_ms[bits] = 3.5 * c
    floor_ms[bits] = 8 * c + latency + (5 + 2 * regs) * c + gap_ms[bits]
floor = 1000 / floor_ms[10]
# mbpoll sleeps -l ms after each answer (mbpoll.c: mb_delay(iPollRate)),
# which covers the t3.5 gap: its own best is the exchange plus that sleep.
mb_ceiling = 1000 / (floor_ms[10] - gap_ms[10] + max(gap_ms[10], int(poll_ms)))

e_rate = [line_rate(f"ectool{r}") for r in range(1, rounds + 1)]
m_rate = [line_rate(f"mbpoll{r}") for r in range(1, rounds + 1)]
e_wall = [polls / walls[2 * r] for r in range(rounds)]
m_wall = [polls / walls[2 * r + 1] for r in range(rounds)]
mb_spread = (max(m_rate) - min(m_rate)) / statistics.mean(m_rate)

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
def pkg(name):
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", name], capture_output=True, text=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


mbv = subprocess.run(["mbpoll", "-V"], capture_output=True, text=True).stdout.strip()
mbv = f"{pkg('mbpoll')} (`mbpoll -V`: {mbv})"
lm = pkg("libmodbus5")
now = datetime.datetime.now(datetime.timezone.utc)
print(f"modbus benchmark of commit {commit}")
print(f"{now:%Y-%m-%d %H:%M} UTC, nproc {os.cpu_count()}, {cpu}, load average {load}; "
      f"mbpoll {mbv} (libmodbus {lm})")
print(f"{polls} polls of {regs} holding registers (FC 03, 40001-40010) from lab unit {unit} "
      f"(latency {latency:g} ms) at {baud} 8N1 through the lab's PTY; {rounds} rounds, tools alternating")
print()
print(f"| {polls} polls, {regs} registers, {baud} 8N1 | polls/s on the line (best) | vs floor | vs mbpoll | each round vs mbpoll | polls/s, process wall (best) |")
print("|---|---:|---:|---:|---|---:|")
print(f"| physical floor: 8 + {5 + 2 * regs} characters, {latency:g} ms latency, t3.5 = {floor_ms[10]:.2f} ms a poll "
      f"(10-bit characters; {1000 / floor_ms[11]:.2f}/s with the spec's 11-bit ones) | {floor:.2f} | 1.000× | | | |")
print(f"| `ectool modbus watch --every 0 --polls {polls}` | {max(e_rate):.2f} | {max(e_rate) / floor:.3f}× | "
      f"{max(e_rate) / max(m_rate):.2f}× | {' '.join(f'{e / m:.2f}×' for e, m in zip(e_rate, m_rate))} | {max(e_wall):.2f} |")
print(f"| `mbpoll -c {regs} -l {poll_ms}` | {max(m_rate):.2f} | {max(m_rate) / floor:.3f}× | 1.00× | "
      f"spread {100 * mb_spread:.1f} % ({min(m_rate):.2f}-{max(m_rate):.2f}) | {max(m_wall):.2f} |")
print(f"| mbpoll's own best: the exchange plus its {poll_ms} ms sleep after each answer (in place of t3.5) | {mb_ceiling:.2f} | {mb_ceiling / floor:.3f}× | | | |")
print()
print("ectool per round (line): " + ", ".join(f"{r:.2f}" for r in e_rate) +
      "; mbpoll per round (line): " + ", ".join(f"{r:.2f}" for r in m_rate))


def gap_text(tool):
    g = sorted(x for r in range(1, rounds + 1) for x in gaps[f"{tool}{r}"])
    return f"median {1000 * statistics.median(g):.2f} ms, 90th percentile {1000 * g[int(0.9 * len(g))]:.2f} ms"


print(f"silence left after each answer, as the observer saw it (t3.5 = {gap_ms[10]:.2f} ms): "
      f"ectool {gap_text('ectool')}; mbpoll {gap_text('mbpoll')}")
PY
