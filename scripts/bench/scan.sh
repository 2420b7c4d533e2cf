#!/usr/bin/env bash
# Benchmark: `ectool scan` of a whole address range on the lab's simulated
# RS-485 bus, against the physical floor and against mbpoll on the same bus
# in the same run.
#
#   scripts/bench/scan.sh                 # builds ectool, runs, prints a table
#   ECTOOL_BIN=./ectool IDS=1-247 TIMEOUT_MS=100 scripts/bench/scan.sh
#
# The bus: `ectool lab` (scenario "default": meters 1, 2, 3 and two meters
# sharing address 17 whose answers overlap) at 9600 8N1, on its PTY, which
# transmits at the wire rate of 9600 baud. Runs, in order:
#   1. ectool scan PTY --ids IDS --timeout 100ms --listen 0   (sweep + confirm)
#   2. mbpoll -m rtu -b 9600 -P none -a 1:247 -t 4 -r 1 -1 -o 0.1 PTY
#   3. ectool scan PTY --ids IDS --timeout 100ms              (default 3 s listen)
# The floor (details.sweep.floor_ms, added up by ectool exchange by
# exchange): per address, the request's wire time plus the timeout (an absent
# address cannot be declared absent sooner); per answered poll (sweep and
# confirm: identity FC 0x11 and 0x2B/0x0E, --confirm polls), the request and
# the actual reply on the wire plus the shortest window that catches a second
# answer (5 ms turnaround, the reply's length again, the 20 ms silence).
set -euo pipefail

IDS=${IDS:-1-247}
TIMEOUT_MS=${TIMEOUT_MS:-100}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
lab=""
cleanup() { [ -n "$lab" ] && kill "$lab" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v mbpoll >/dev/null || { echo "missing mbpoll (apt-get install mbpoll)" >&2; exit 3; }
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

if [ -z "${ECTOOL_BIN:-}" ]; then
  ECTOOL_BIN="$work/ectool"
  (cd "$root" && CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool)
fi

"$ECTOOL_BIN" lab --no-websocket --bus-scenario default --duration 30m -o json >"$work/lab.json" 2>"$work/lab.log" &
lab=$!
for _ in $(seq 100); do
  [ -s "$work/lab.json" ] && break
  sleep 0.1
done
pty=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bus"]["pty"])' "$work/lab.json")
echo "lab bus: $pty (9600 8N1, meters 1 2 3, twins at 17)" >&2
sleep 1 # let the lab's PTY settle before the first timed run

now() { date +%s.%N; }

# 1. ectool, no listening before talking: the same work as mbpoll plus the
#    confirm polls of the found addresses.
t0=$(now)
set +e
"$ECTOOL_BIN" scan "$pty" --ids "$IDS" --timeout "${TIMEOUT_MS}ms" --listen 0 -o json >"$work/scan0.json"
code0=$?
t1=$(now)
# 2. mbpoll over the same range, once each.
mbpoll -m rtu -b 9600 -P none -a 1:247 -t 4 -r 1 -1 -o "$(echo "$TIMEOUT_MS" | awk '{print $1/1000}')" "$pty" >"$work/mbpoll.txt" 2>&1
codeM=$?
t2=$(now)
# 3. mbpoll with the same effective wait: libmodbus starts its timeout when
#    the request is written, ectool when the request has left the wire.
mbpoll -m rtu -b 9600 -P none -a 1:247 -t 4 -r 1 -1 -o "$(echo "$TIMEOUT_MS" | awk '{printf "%.4f", ($1 + 8*10/9.6)/1000}')" "$pty" >"$work/mbpoll2.txt" 2>&1
t3=$(now)
# 4. ectool with its defaults (3 s of listening first).
"$ECTOOL_BIN" scan "$pty" --ids "$IDS" --timeout "${TIMEOUT_MS}ms" -o json >"$work/scan1.json"
code1=$?
t4=$(now)
set -e

"$PY" - "$work" "$t0" "$t1" "$t2" "$t3" "$t4" "$code0" "$codeM" "$code1" "$TIMEOUT_MS" <<'PY'
import json, re, sys
work, t0, t1, t2, t3, t4 = sys.argv[1], *map(float, sys.argv[2:7])
code0, codeM, code1, timeout_ms = map(int, sys.argv[7:11])
s0 = json.load(open(f"{work}/scan0.json"))
s1 = json.load(open(f"{work}/scan1.json"))
mb = open(f"{work}/mbpoll.txt").read()

char_ms = 10 / 9600 * 1000          # 8N1: 10 bits a character
req_ms = 8 * char_ms                 # FC 03 request, 8 bytes
det = s0["details"]
probed = det["sweep"]["probed"]
polls = sum(d["polls"] for d in det["devices"])
confirm_polls = polls - len(det["devices"])   # each device's sweep probe is counted in the sweep
floor_sweep = probed * (req_ms + timeout_ms)  # the issue's per-address floor
floor = det["sweep"]["floor_ms"] / 1000       # ectool's own accounting, exchange by exchange
floor_confirm = floor * 1000 - floor_sweep
wall0, wallM, wallM2, wall1 = t1 - t0, t2 - t1, t3 - t2, t4 - t3
verdicts = " ".join(f'{d["unit_id"]}:{d["verdict"]}' for d in det["devices"])
mb_found = sorted(set(re.findall(r"Polling slave (\d+)", mb)))
mb_ans = re.findall(r"^-- Polling slave (\d+)\.\.\.\s*\n\[1\]:", mb, re.M)
mb_ok = len(mb_ans)
import os, platform, subprocess, datetime
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mbv = subprocess.run(["mbpoll", "-V"], capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[0]
print(f"machine: nproc {os.cpu_count()}, {cpu}, load average {load}; mbpoll {mbv}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
print(f"scan of ids 1-{probed} at 9600 8N1, --timeout {timeout_ms}ms, lab bus (meters 1 2 3, twins at 17)")
print()
print("| run | wall time | vs floor | vs mbpoll | result |")
print("|---|---|---|---|---|")
print(f"| physical floor (sweep {floor_sweep/1000:.2f} s + {confirm_polls} confirm polls {floor_confirm/1000:.2f} s) | {floor:.2f} s | 1.00x | | |")
print(f"| ectool scan --listen 0 | {wall0:.2f} s | {wall0/floor:.3f}x | {wall0/wallM:.3f}x | exit {code0}: {verdicts} |")
print(f"| mbpoll -a 1:247 -o {timeout_ms/1000} | {wallM:.2f} s | {wallM/floor:.3f}x | 1.000x | exit {codeM}: {mb_ok} answer(s) ({' '.join(mb_ans)}), no collision reported |")
print(f"| mbpoll -a 1:247 -o {(timeout_ms + req_ms)/1000:.4f} (same effective wait as ectool) | {wallM2:.2f} s | {wallM2/floor:.3f}x | {wallM2/wallM:.3f}x | ectool: {wall0/wallM2:.3f}x of this |")
det1 = s1["details"]
verdicts1 = " ".join(f'{d["unit_id"]}:{d["verdict"]}' for d in det1["devices"])
print(f"| ectool scan (default --listen 3s) | {wall1:.2f} s | {(wall1-3)/floor:.3f}x without the 3 s | {wall1/wallM:.3f}x | exit {code1}: {verdicts1} |")
print()
print(f"ectool sweep {det['sweep']['duration_ms']/1000:.2f} s, confirm {det['sweep']['confirm_ms']/1000:.2f} s "
      f"({confirm_polls} polls of {len(det['devices'])} addresses)")
PY
