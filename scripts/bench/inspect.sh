#!/usr/bin/env bash
# Benchmark: `ectool capture inspect` against `tshark -Y mqtt` on the same
# synthetic MQTT capture, both pinned to one core, in one run.
#
#   scripts/bench/inspect.sh                       # 1M and 5M packets, tshark best of 3 on 1M
#   PACKETS="1000000" RUNS=3 CORE=1 scripts/bench/inspect.sh
#   ECTOOL_BIN=./ectool TSHARK_PACKETS=1000000 scripts/bench/inspect.sh
#
# The capture: internal/pcapsynth's Telemetry (50 gateways publishing at QoS 0
# and 1 to a broker that acknowledges and delivers each reading to a
# dashboard; pure ACKs, pings, one packet in 17 split over two segments),
# written by internal/pcapsynth/mkmqtt. Its PUBLISH count is checked three
# ways: the generator's, tshark's (mqtt.msgtype == 3 occurrences) and
# ectool's (the sum of details.topics[].publishes); and the MQTT packets
# (every mqtt.msgtype occurrence) against ectool's details.capture.messages.
#
# Each timed run: `taskset -c CORE` (and GOMAXPROCS=1 for ectool), the file
# read once before (page cache), best of RUNS wall times; user+sys CPU and
# peak RSS (maxrss) from /usr/bin/time. Also timed: ectool's reader alone
# (internal/pcapsynth/readcapture: records/s with no decoding), the ceiling
# of any inspection of the file.
set -euo pipefail

PACKETS=${PACKETS:-"1000000 5000000"}
TSHARK_PACKETS=${TSHARK_PACKETS:-1000000}
RUNS=${RUNS:-3}
CORE=${CORE:-1}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-$(mktemp -d)}
trap '[ -z "${KEEP:-}" ] && rm -rf "$work"' EXIT

for p in tshark taskset /usr/bin/time python3; do
	command -v "$p" >/dev/null || { echo "missing $p" >&2; exit 3; }
done
cd "$root"
if [ -z "${ECTOOL_BIN:-}" ]; then
	ECTOOL_BIN="$work/ectool"
	CGO_ENABLED=0 go build -o "$ECTOOL_BIN" ./cmd/ectool
fi
CGO_ENABLED=0 go build -o "$work/mkmqtt" ./internal/pcapsynth/mkmqtt
CGO_ENABLED=0 go build -o "$work/readcapture" ./internal/pcapsynth/readcapture
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain 2>/dev/null | grep -q . && echo "+dirty" || true)

# timed LABEL CMD...: best wall time of RUNS, with CPU and RSS of that run.
timed() {
	local label=$1 best="" line
	shift
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -o "$work/time.$label" -f "%e %U %S %M" "$@" >"$work/out.$label" 2>/dev/null
		line=$(tail -1 "$work/time.$label")
		read -r wall user sys rss <<<"$line"
		if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if float('$wall') < float('${best%% *}') else 1)"; then
			best="$wall $user $sys $rss"
		fi
	done
	echo "$best"
}

echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tshark: $(tshark --version 2>/dev/null | head -1)"
echo "ectool: commit $commit$dirty, $(go version | cut -d' ' -f3); $(date -u '+%Y-%m-%d %H:%M') UTC"
echo "pinned to core $CORE (taskset), GOMAXPROCS=1 for ectool, best of $RUNS"
echo

rows=()
for n in $PACKETS; do
	f="$work/mqtt-$n.pcap"
	gen=$("$work/mkmqtt" -packets "$n" -o "$f")
	frames=$(sed -n 's/.*packets=\([0-9]*\).*/\1/p' <<<"$gen")
	pubs=$(sed -n 's/.*publishes=\([0-9]*\).*/\1/p' <<<"$gen")
	cat "$f" >/dev/null # page cache

	read -r rwall _ _ _ <<<"$(timed read taskset -c "$CORE" env GOMAXPROCS=1 "$work/readcapture" "$f")"
	read -r ewall euser esys erss <<<"$(timed ectool taskset -c "$CORE" env GOMAXPROCS=1 "$ECTOOL_BIN" capture inspect "$f" -o json)"
	read -r emsgs epubs <<<"$(python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
print(r["details"]["capture"]["messages"], sum(t["publishes"] for t in r["details"]["topics"]))' "$work/out.ectool")"
	[ "$epubs" = "$pubs" ] || { echo "ectool counts $epubs PUBLISH, the generator wrote $pubs" >&2; exit 1; }

	twall="" tuser="" tsys="" trss="" tmsgs="-" tpubs="-"
	if [[ " $TSHARK_PACKETS " == *" $n "* ]]; then
		read -r twall tuser tsys trss <<<"$(timed tshark taskset -c "$CORE" tshark -r "$f" -Y mqtt -T fields -e mqtt.msgtype -e mqtt.topic -E occurrence=a)"
		read -r tmsgs tpubs <<<"$(python3 -c '
import sys
msgs=pubs=0
for line in open(sys.argv[1]):
    types=line.split("\t")[0].strip()
    if types:
        for t in types.split(","):
            msgs+=1; pubs+= t=="3"
print(msgs, pubs)' "$work/out.tshark")"
		[ "$tpubs" = "$epubs" ] && [ "$tmsgs" = "$emsgs" ] || { echo "counts differ: tshark $tmsgs packets / $tpubs PUBLISH, ectool $emsgs / $epubs" >&2; exit 1; }
	fi
	rows+=("$n $frames $pubs $emsgs $rwall $ewall $euser $esys $erss ${twall:--} ${tuser:--} ${tsys:--} ${trss:--} $tmsgs")
done

python3 - "${rows[@]}" <<'PY'
import sys
print("| capture | MQTT packets (ectool = tshark) | reader alone | ectool | ectool CPU | ectool peak RSS | tshark | tshark CPU | tshark peak RSS | ectool vs tshark |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for row in sys.argv[1:]:
    n, frames, pubs, emsgs, rwall, ewall, euser, esys, erss, twall, tuser, tsys, trss, tmsgs = row.split()
    frames, rwall, ewall = int(frames), float(rwall), float(ewall)
    ecpu = float(euser) + float(esys)
    t = "-" if twall == "-" else f"{float(twall):.2f} s ({frames/float(twall):,.0f} packets/s)"
    tcpu = "-" if tuser == "-" else f"{float(tuser)+float(tsys):.2f} s"
    trs = "-" if trss == "-" else f"{int(trss)/1024:.0f} MB"
    ratio = "-" if twall == "-" else f"{float(twall)/ewall:.1f}x wall, {(float(tuser)+float(tsys))/ecpu:.1f}x CPU"
    same = emsgs if tmsgs == "-" else f"{emsgs} = {tmsgs}"
    print(f"| {frames:,} frames, {int(pubs):,} PUBLISH | {same} | {rwall:.2f} s ({frames/rwall:,.0f} records/s) | "
          f"{ewall:.2f} s ({frames/ewall:,.0f} packets/s) | {ecpu:.2f} s ({frames/ecpu:,.0f} packets/s) | {int(erss)/1024:.0f} MB | {t} | {tcpu} | {trs} | {ratio} |")
PY
