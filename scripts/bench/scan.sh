#!/usr/bin/env bash
# Benchmark: `ectool scan` of an address range on the lab's simulated RS-485
# bus, against the physical floor and against mbpoll on the same bus and the
# same ids in the same run. It prints every row of docs/benchmarks.md's scan
# section and the commit it measured.
#
#   scripts/bench/scan.sh                 # builds ectool, runs, prints a table
#   ECTOOL_BIN=./ectool IDS=1-247 TIMEOUT_MS=100 scripts/bench/scan.sh
#
# The bus: `ectool lab` (scenario "default": meters 1, 2, 3 and two meters
# sharing address 17 whose answers overlap) at 9600 8N1, on its PTY, which
# transmits at the wire rate of 9600 baud. Runs, in order:
#   1. ectool scan PTY --ids IDS --timeout 100ms --listen 0   (sweep + confirm)
#   2. mbpoll -m rtu -b 9600 -P none -a IDS -t 4 -r 1 -1 -o 0.1 PTY
#   3. the same mbpoll with the same effective wait as ectool (see below)
#   4. ectool scan PTY --ids IDS --timeout 100ms              (default 3 s listen)
#   5. ectool scan PTY --ids IDS --timeout 100ms --listen 0 --confirm 0 (sweep only)
# Then, on a second lab bus (scenario "slow-twins": meters 1, 2, 3, the
# overlapping twins at 17 and meter 9 answering after 150 ms), --timeout auto
# against the fixed waits, over 1-247 whatever IDS says:
#   6. ectool scan PTY --timeout auto --listen 0
#   7. ectool scan PTY --timeout 100ms --listen 0
#   8. mbpoll -m rtu -b 9600 -P none -a 1:20 -t 4 -r 1 -1 PTY (its default 1 s
#      timeout) over 1-20 only, its time scaled to 247 addresses (printed as
#      scaled): 247 addresses at 1 s would take over 4 minutes.
# PARTS=auto runs only 6-8; PARTS=fixed only 1-5.
#
# The floor is computed here, not taken from ectool's report: during each
# ectool run an observer connected to the lab's rtuovertcp:// port (one more
# adapter on the same line, which never transmits) records every byte on the
# line; this script cuts them into frames by function code and CRC and adds
# up, for each request ectool sent, the request's wire time at the line's
# rate and then either the timeout (nothing answered: an absent address
# cannot be declared absent sooner) or the answer's wire time plus the
# shortest window that can catch a second answer (5 ms turnaround, the
# answer's length again, the 20 ms silence). The meters' own response time
# (5-12 ms in the lab) is not in the floor.
set -euo pipefail

IDS=${IDS:-1-247}
PARTS=${PARTS:-all}
TIMEOUT_MS=${TIMEOUT_MS:-100}
BAUD=9600 # the lab scenario's; 8N1: 10 bits a character
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
lab=""
lab2=""
observer=""
cleanup() {
  [ -n "$observer" ] && kill "$observer" 2>/dev/null
  [ -n "$lab" ] && kill "$lab" 2>/dev/null
  [ -n "$lab2" ] && kill "$lab2" 2>/dev/null
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v mbpoll >/dev/null || { echo "missing mbpoll (apt-get install mbpoll)" >&2; exit 3; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit+uncommitted changes"
fi
if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool)
fi
# mbpoll's address list: 1:247 for 1-247, 1:10,17 for 1-10,17.
MB_IDS=${IDS//-/:}
# mbpoll's stdout is block-buffered into a file and its errors are not:
# line-buffer it so each "-- Polling slave N" line stays whole.
LINEBUF=()
command -v stdbuf >/dev/null && LINEBUF=(stdbuf -oL)

now() { date +%s.%N; }
if [ "$PARTS" != auto ]; then
"$ECTOOL_BIN" lab --no-websocket --bus-scenario default --duration 60m -o json >"$work/lab.json" 2>"$work/lab.log" &
lab=$!
for _ in $(seq 100); do
  [ -s "$work/lab.json" ] && break
  sleep 0.1
done
read -r pty rtu < <("$PY" -c 'import json,sys; b=json.load(open(sys.argv[1]))["bus"]; print(b["pty"], b["rtuovertcp"].split("//")[1])' "$work/lab.json")
echo "lab bus: $pty (9600 8N1, meters 1 2 3, twins at 17), observed through rtuovertcp://$rtu" >&2
sleep 1 # let the lab's PTY settle before the first timed run

# observe NAME: record every byte on the line into $work/NAME.bin until
# unobserve; ready once connected.
observe() {
  rm -f "$work/$1.ready"
  "$PY" - "$rtu" "$work/$1.bin" "$work/$1.ready" <<'PY' &
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
out = open(sys.argv[2], "wb")
open(sys.argv[3], "w").close()
while True:
    b = s.recv(4096)
    if not b:
        break
    out.write(b)
    out.flush()
PY
  observer=$!
  for _ in $(seq 200); do
    [ -e "$work/$1.ready" ] && return
    sleep 0.01
  done
  echo "the observer could not connect to rtuovertcp://$rtu" >&2
  exit 3
}
unobserve() {
  sleep 0.3 # the last answer's bytes on their way through the observer
  kill "$observer" 2>/dev/null || true
  wait "$observer" 2>/dev/null || true
  observer=""
}

mb_wait() { "$PY" -c "import sys; print(f'{float(sys.argv[1]):.4f}')" "$1"; }

set +e
# 1. ectool, no listening before talking: the same work as mbpoll plus the
#    confirm polls of the found addresses.
observe scan0
t0=$(now)
"$ECTOOL_BIN" scan "$pty" --ids "$IDS" --timeout "${TIMEOUT_MS}ms" --listen 0 -o json >"$work/scan0.json"
code0=$?
t1=$(now)
unobserve
# 2. mbpoll over the same ids, once each.
mbW1=$(mb_wait "$(echo "$TIMEOUT_MS" | awk '{print $1/1000}')")
t2a=$(now)
"${LINEBUF[@]}" mbpoll -m rtu -b "$BAUD" -P none -a "$MB_IDS" -t 4 -r 1 -1 -o "$mbW1" "$pty" >"$work/mbpoll.txt" 2>&1
codeM=$?
t2=$(now)
# 3. mbpoll with the same effective wait: libmodbus starts its timeout when
#    the request is written, ectool when the request has left the wire
#    (8 bytes at the line's rate).
mbW2=$(mb_wait "$(echo "$TIMEOUT_MS $BAUD" | awk '{print ($1 + 8*10*1000/$2)/1000}')")
"${LINEBUF[@]}" mbpoll -m rtu -b "$BAUD" -P none -a "$MB_IDS" -t 4 -r 1 -1 -o "$mbW2" "$pty" >"$work/mbpoll2.txt" 2>&1
codeM2=$?
t3=$(now)
# 4. ectool with its defaults (3 s of listening first).
"$ECTOOL_BIN" scan "$pty" --ids "$IDS" --timeout "${TIMEOUT_MS}ms" -o json >"$work/scan1.json"
code1=$?
t4=$(now)
# 5. ectool, the sweep alone.
observe scan2
t5a=$(now)
"$ECTOOL_BIN" scan "$pty" --ids "$IDS" --timeout "${TIMEOUT_MS}ms" --listen 0 --confirm 0 -o json >"$work/scan2.json"
code2=$?
t5=$(now)
unobserve
set -e

"$PY" - "$work" "$IDS" "$TIMEOUT_MS" "$BAUD" "$commit" "$mbW1" "$mbW2" \
  "$t0" "$t1" "$t2a" "$t2" "$t3" "$t4" "$t5a" "$t5" \
  "$code0" "$codeM" "$codeM2" "$code1" "$code2" <<'PY'
import datetime, json, os, platform, re, subprocess, sys

work, ids_arg, timeout_ms, baud, commit, mbw1, mbw2 = sys.argv[1:8]
timeout_ms, baud = int(timeout_ms), int(baud)
t0, t1, t2a, t2, t3, t4, t5a, t5 = map(float, sys.argv[8:16])
code0, codeM, codeM2, code1, code2 = map(int, sys.argv[16:21])

char_ms = 10 * 1000 / baud  # 8N1: start bit, 8 data bits, stop bit


def wire(n):
    return n * char_ms


def crc16(b):
    crc = 0xFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def crc_ok(b):
    return len(b) >= 4 and crc16(b[:-2]) == b[-2] | b[-1] << 8


def request_len(b, i):
    """Length of the request ectool or mbpoll may send starting at i."""
    if i + 1 >= len(b):
        return 0
    fc = b[i + 1]
    return {1: 8, 2: 8, 3: 8, 4: 8, 0x11: 4, 0x2B: 7}.get(fc, 0)


def response_len(b, i):
    """Length of an answer starting at i, from its function code and bytes."""
    if i + 2 >= len(b):
        return 0
    fc = b[i + 1]
    if fc & 0x80:
        return 5
    if fc in (1, 2, 3, 4, 0x11):
        return 5 + b[i + 2]
    if fc == 0x2B:  # MEI 0x0E: header, then objects (id, length, value)
        j = i + 8
        if j > len(b):
            return 0
        for _ in range(b[i + 7]):
            if j + 2 > len(b):
                return 0
            j += 2 + b[j + 1]
        return j + 2 - i
    return 0


def frames(b):
    """Cut the line's bytes into ('req'|'ans'|'garbage', unit, bytes)."""
    out, i, junk = [], 0, 0
    while i < len(b):
        kind = None
        for k, n in (("req", request_len(b, i)), ("ans", response_len(b, i))):
            if n and i + n <= len(b) and crc_ok(b[i:i + n]):
                kind, length = k, n
                break
        if kind is None:
            junk += 1
            i += 1
            continue
        if junk:
            out.append(("garbage", None, junk))
            junk = 0
        out.append((kind, b[i], length))
        i += length
    if junk:
        out.append(("garbage", None, junk))
    return out


def floor(name, last_sweep_id):
    """The floor of the exchanges seen: (sweep ms, confirm ms, requests)."""
    fs = frames(open(f"{work}/{name}.bin", "rb").read())
    sweep = confirm = 0.0
    in_sweep, requests = True, 0
    for k, (kind, unit, n) in enumerate(fs):
        if kind != "req":
            continue
        requests += 1
        answer = 0
        for kind2, _, n2 in fs[k + 1:]:
            if kind2 == "req":
                break
            answer += n2
        cost = wire(n) + (wire(answer) + 5 + wire(answer) + 20 if answer else timeout_ms)
        if in_sweep:
            sweep += cost
        else:
            confirm += cost
        if unit == last_sweep_id:
            in_sweep = False
    return sweep, confirm, requests


def ids(spec):
    out = []
    for part in spec.split(","):
        a, _, b = part.partition("-")
        out += range(int(a), int(b or a) + 1)
    return out


id_list = ids(ids_arg)
s0 = json.load(open(f"{work}/scan0.json"))
s1 = json.load(open(f"{work}/scan1.json"))
s2 = json.load(open(f"{work}/scan2.json"))
sweep0, confirm0, req0 = floor("scan0", id_list[-1])
sweep2, confirm2, req2 = floor("scan2", id_list[-1])
floor0 = (sweep0 + confirm0) / 1000
floor2 = (sweep2 + confirm2) / 1000
wall0, wallM, wallM2, wall1, wall2 = t1 - t0, t2 - t2a, t3 - t2, t4 - t3, t5 - t5a


def verdicts(s):
    return ", ".join(f'{d["unit_id"]} {d["verdict"]}' for d in s["details"]["devices"])


det = s0["details"]
confirm_reqs = req0 - len(id_list)
mb = open(f"{work}/mbpoll.txt").read()
mb_ans = re.findall(r"^-- Polling slave (\d+)\.\.\.\s*\n\[1\]:", mb, re.M)
mb_polled = len(re.findall(r"^-- Polling slave (\d+)", mb, re.M))
mb2_polled = len(re.findall(r"^-- Polling slave (\d+)", open(f"{work}/mbpoll2.txt").read(), re.M))
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mbv = subprocess.run(["mbpoll", "-V"], capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[0]
now = datetime.datetime.now(datetime.timezone.utc)
print(f"commit {commit}; machine: nproc {os.cpu_count()}, {cpu}, load average {load} at the end; mbpoll {mbv}; {now:%Y-%m-%d %H:%M} UTC")
print(f"ids {ids_arg} ({len(id_list)} addresses) at {baud} 8N1, --timeout {timeout_ms}ms, lab bus (meters 1 2 3, twins at 17)")
print(f"line observed: ectool sent {req0} requests ({len(id_list)} in the sweep, {confirm_reqs} confirm); "
      f"sweep-only run {req2}; mbpoll polled {mb_polled} and {mb2_polled} addresses")
print()
print(f"| ids {ids_arg}, {baud} 8N1, timeout {timeout_ms} ms | wall time | vs floor | vs mbpoll `-o {mbw1}` | result |")
print("|---|---:|---:|---:|---|")
print(f"| physical floor (sweep {sweep0/1000:.2f} s + {confirm_reqs} confirm polls {confirm0/1000:.2f} s) | {floor0:.2f} s | 1.00× | | |")
print(f"| `ectool scan --listen 0` | {wall0:.2f} s | {wall0/floor0:.3f}× | {wall0/wallM:.3f}× | exit {code0}: {verdicts(s0)} |")
print(f"| `mbpoll -a {ids_arg.replace('-', ':')} -o {mbw1}` | {wallM:.2f} s | {wallM/floor0:.3f}× | 1.000× | exit {codeM}: answers from {', '.join(mb_ans) or 'none'}, no word of a collision |")
print(f"| `mbpoll -o {mbw2}` (same effective wait) | {wallM2:.2f} s | {wallM2/floor0:.3f}× | {wallM2/wallM:.3f}× | exit {codeM2}; ectool takes {wall0/wallM2:.3f}× this |")
print(f"| `ectool scan` (default `--listen 3s`) | {wall1:.2f} s | {(wall1-3)/floor0:.3f}× without the 3 s | {wall1/wallM:.3f}× | exit {code1}: {verdicts(s1)} |")
print(f"| `ectool scan --listen 0 --confirm 0` (sweep only) | {wall2:.2f} s | {wall2/floor2:.3f}× of its own {floor2:.2f} s floor | {wall2/wallM:.3f}× | exit {code2}: {verdicts(s2)} |")
print()
print(f"ectool sweep {det['sweep']['duration_ms']/1000:.2f} s against its floor {sweep0/1000:.2f} s; "
      f"confirm {det['sweep']['confirm_ms']/1000:.2f} s against {confirm0/1000:.2f} s "
      f"({confirm_reqs} polls of {len(det['devices'])} addresses); "
      f"ectool's own floor_ms {det['sweep'].get('floor_ms', 0)/1000:.2f} s (not used)")
PY
kill "$lab" 2>/dev/null || true
wait "$lab" 2>/dev/null || true
lab=""
fi

[ "$PARTS" = fixed ] && exit 0

# --timeout auto on the benchmark's bus: the twins and a slow meter.
"$ECTOOL_BIN" lab --no-websocket --bus-scenario slow-twins --duration 60m -o json >"$work/lab2.json" 2>"$work/lab2.log" &
lab2=$!
for _ in $(seq 100); do
  [ -s "$work/lab2.json" ] && break
  sleep 0.1
done
pty2=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bus"]["pty"])' "$work/lab2.json")
echo "lab bus 2: $pty2 (9600 8N1, meters 1 2 3, twins at 17, meter 9 answering after 150 ms)" >&2
sleep 1
set +e
a0=$(now)
"$ECTOOL_BIN" scan "$pty2" --ids 1-247 --timeout auto --listen 0 -o json >"$work/auto.json"
codeA=$?
a1=$(now)
"$ECTOOL_BIN" scan "$pty2" --ids 1-247 --timeout 100ms --listen 0 -o json >"$work/fixed.json"
codeF=$?
a2=$(now)
"${LINEBUF[@]}" mbpoll -m rtu -b "$BAUD" -P none -a 1:20 -t 4 -r 1 -1 "$pty2" >"$work/mbpoll1s.txt" 2>&1
codeM1=$?
a3=$(now)
set -e
"$PY" - "$work" "$commit" "$a0" "$a1" "$a2" "$a3" "$codeA" "$codeF" "$codeM1" <<'PY'
import datetime, json, os, platform, re, subprocess, sys

work, commit = sys.argv[1:3]
a0, a1, a2, a3 = map(float, sys.argv[3:7])
codeA, codeF, codeM1 = map(int, sys.argv[7:10])
auto = json.load(open(f"{work}/auto.json"))
fixed = json.load(open(f"{work}/fixed.json"))
wallA, wallF, wallM = a1 - a0, a2 - a1, a3 - a2
scaled = wallM * 247 / 20


def verdicts(s):
    return {d["unit_id"]: d["verdict"] for d in s["details"]["devices"]}


def show(v):
    return ", ".join(f"{u} {x}" for u, x in sorted(v.items()))


want = {1: "ok", 2: "ok", 3: "ok", 9: "ok", 17: "collision"}
va, vf = verdicts(auto), verdicts(fixed)
mb = open(f"{work}/mbpoll1s.txt").read()
mb_ans = re.findall(r"^-- Polling slave (\d+)\.\.\.\s*\n\[1\]:", mb, re.M)
sw = auto["details"]["sweep"]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
load = open("/proc/loadavg").read().split()[:3]
now = datetime.datetime.now(datetime.timezone.utc)
print()
print(f"commit {commit}; machine: nproc {os.cpu_count()}, {cpu}, load average {' '.join(load)} (1, 5, 15 min) at the end; {now:%Y-%m-%d %H:%M} UTC")
print("ids 1-247 at 9600 8N1, lab bus slow-twins (meters 1 2 3, twins at 17 whose answers overlap, meter 9 answering after 150 ms)")
print()
print("| ids 1-247, 9600 8N1, slow-twins bus | wall time | vs `--timeout 100ms` | result |")
print("|---|---:|---:|---|")
print(f"| `ectool scan --timeout auto --listen 0` | {wallA:.2f} s | {wallA/wallF:.3f}× | exit {codeA}: {show(va)} |")
print(f"| `ectool scan --timeout 100ms --listen 0` | {wallF:.2f} s | 1.000× | exit {codeF}: {show(vf)} |")
print(f"| `mbpoll -a 1:20` (default 1 s timeout), SCALED from 1-20 to 247 addresses (×247/20; measured {wallM:.2f} s) | {scaled:.2f} s | {scaled/wallF:.3f}× | exit {codeM1}: answers from {', '.join(mb_ans) or 'none'} within 1-20, no word of a collision |")
print()
print(f"--timeout auto: sweep {sw['duration_ms']/1000:.2f} s (wait {sw.get('wait_ms', 0):.0f} ms at a silent address, "
      f"long wait {sw.get('long_wait_ms', 0):.0f} ms, asked again: {sw.get('reprobed') or 'none'}, unexplained: {sw.get('unexplained') or 'none'}), "
      f"confirm {sw['confirm_ms']/1000:.2f} s; --timeout 100ms: sweep {fixed['details']['sweep']['duration_ms']/1000:.2f} s, confirm {fixed['details']['sweep']['confirm_ms']/1000:.2f} s")
ok = va == want
print(f"target (1-247 in <= 12 s, every device found, the twins a collision, the slow meter ok): "
      f"{'met' if ok and wallA <= 12 else 'NOT met'} ({wallA:.2f} s; verdicts {'as wanted' if ok else 'differ: ' + show(va)}; "
      f"same verdicts as --timeout 100ms: {'yes' if va == vf else 'no'})")
PY
