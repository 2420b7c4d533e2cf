#!/usr/bin/env bash
# scripts/bench/capture.sh: ectool capture against tcpdump -w -C -W at rising packet rates.
#
# tcpreplay replays an MQTT capture (recorded here from mosquitto traffic) onto one end of a veth
# pair at each --pps; the capturer listens on the far end, in another namespace, with the same
# filter, ring size and kernel buffer (-B = --buffer). The replayer and the capturer are pinned to
# different cores (taskset). Three runs per tool and rate; the median run is reported.
# Per tool and rate: packets captured of those sent, kernel drops, CPU seconds per million packets
# (utime+stime from /proc, read just before the capturer stops), peak RSS (VmHWM).
# Two CPU figures, measured the same way for every tool:
# - whole run (the issue's target): utime+stime of the capturer from its start (startup included)
#   to just before it stops, over the packets sent;
# - steady: on-CPU time summed over the capturer's threads (/proc/PID/task/*/schedstat, in ns)
#   from WARMUP_SECONDS after the replay starts to just before the capturer stops, over the packets
#   the receiving veth counted in that window (/sys/class/net/IF/statistics/rx_packets). It leaves
#   out startup, so it says what a long-running capture costs per packet.
# The drop-free rate is the highest rate whose median run captured every packet sent with no kernel
# drop. Reference counts come from tcpreplay's own "Successful packets", not from ectool.
# "ectool" is the default reader (TPACKET_V3 on 64-bit); "ectool-recvfrom" forces the recvmsg
# reader 32-bit targets use (ECTOOL_CAPTURE_READER=recvfrom), to keep the choice measured.
#
# Usage (root): scripts/bench/capture.sh [RATES...]   (default 2000 10000 50000 100000 200000)
# Environment: ECTOOL_BIN (default: built here with CGO_ENABLED=0), SECONDS_PER_RUN (default 3),
# MIN_PACKETS_PER_RUN (default 60000), WARMUP_SECONDS (default 1),
# TOOLS (default "ectool ectool-recvfrom tcpdump").
# A run lasts SECONDS_PER_RUN or as long as MIN_PACKETS_PER_RUN takes at its rate, whichever is
# longer: CPU per packet over a few thousand packets measures the capturer's start (ectool ~50 ms,
# tcpdump ~25 ms), not what each packet costs; an always-on capture starts once a boot.
# MIN_PACKETS_PER_RUN=0 gives the fixed SECONDS_PER_RUN runs of the earlier figures.
# Example, the figures of docs/benchmarks.md: sudo scripts/bench/capture.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"
RATES=("$@")
[[ ${#RATES[@]} -eq 0 ]] && RATES=(2000 10000 50000 100000 200000)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
MIN_PACKETS_PER_RUN=${MIN_PACKETS_PER_RUN:-60000}
WARMUP_SECONDS=${WARMUP_SECONDS:-1}
read -r -a TOOLS <<<"${TOOLS:-ectool ectool-recvfrom tcpdump}"
RUNS=3
FILTER="port 1883 or port 8883"
W=$(mktemp -d /tmp/ectool-bench-capture.XXXXXX)
NS_TX="ecbench-tx-$$" NS_RX="ecbench-rx-$$"
cleanup() {
	ip netns pids "$NS_RX" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns pids "$NS_TX" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$NS_TX" 2>/dev/null
	ip netns del "$NS_RX" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
for p in tcpreplay tcpdump mosquitto mosquitto_pub taskset capinfos; do
	command -v "$p" >/dev/null || { echo "missing $p (scripts/test.sh installs the peers)" >&2; exit 1; }
done
if [[ -z "${ECTOOL_BIN:-}" ]]; then
	CGO_ENABLED=0 go build -trimpath -o "$W/ectool" ./cmd/ectool || exit 1
	ECTOOL_BIN="$W/ectool"
fi
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
TICKS=$(getconf CLK_TCK)

# 1. An MQTT capture to replay: mosquitto on lo, 2,000 QoS 1 publishes of 64-byte payloads.
ip netns add "$NS_TX" && ip netns add "$NS_RX" || exit 1
ip -n "$NS_TX" link set lo up
cat >"$W/mosquitto.conf" <<CONF
user root
listener 1883 127.0.0.1
allow_anonymous true
CONF
ip netns exec "$NS_TX" mosquitto -c "$W/mosquitto.conf" >/dev/null 2>&1 &
ip netns exec "$NS_TX" tcpdump -i lo -n -U -w "$W/mqtt.pcap" port 1883 2>"$W/rec.log" &
REC=$!
for _ in $(seq 1 100); do grep -q "listening on" "$W/rec.log" && break; sleep 0.1; done
head -c 64 /dev/zero | tr '\0' x >"$W/payload"
for _ in $(seq 1 2000); do cat "$W/payload"; echo; done |
	ip netns exec "$NS_TX" mosquitto_pub -h 127.0.0.1 -t ec-data/bench/telemetry -q 1 -l
sleep 0.5
kill -INT "$REC"; wait "$REC" 2>/dev/null
ip netns pids "$NS_TX" | xargs -r kill 2>/dev/null
SAMPLE=$(capinfos -c -M "$W/mqtt.pcap" | awk '/Number of packets/ {print $NF}')

# 2. The veth the replay crosses.
ip link add ecbtx$$ netns "$NS_TX" type veth peer name ecbrx$$ netns "$NS_RX"
ip -n "$NS_TX" link set ecbtx$$ up
ip -n "$NS_RX" link set ecbrx$$ up
ip -n "$NS_TX" link set ecbtx$$ mtu 65535
ip -n "$NS_RX" link set ecbrx$$ mtu 65535

proc_cpu() { awk -v t="$TICKS" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat" 2>/dev/null; }
proc_hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null; }
# on-CPU nanoseconds of every thread of a process (precise, unlike the tick-counted utime+stime)
proc_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%d", s}'; }
rx_packets() { ip netns exec "$NS_RX" cat /sys/class/net/ecbrx$$/statistics/rx_packets; }

# run_once TOOL RATE: prints "sent captured drops cpu_s hwm_kb steady_ns steady_pkts"
run_once() {
	local tool=$1 rate=$2 dir="$W/run" pid sent captured drops cpu hwm loops rep ns0 ns1 rx0 rx1
	rm -rf "$dir"; mkdir -p "$dir"
	local secs=$(( (MIN_PACKETS_PER_RUN + rate - 1) / rate ))
	(( secs < SECONDS_PER_RUN )) && secs=$SECONDS_PER_RUN
	loops=$(( (rate * secs + SAMPLE - 1) / SAMPLE ))
	if [[ $tool == ectool* ]]; then
		local reader=auto
		[[ $tool == ectool-recvfrom ]] && reader=recvfrom
		ip netns exec "$NS_RX" env ECTOOL_CAPTURE_READER=$reader taskset -c 1 "$ECTOOL_BIN" capture --iface ecbrx$$ --dir "$dir" \
			--file-size 8MB --files 16 --buffer 4MiB --flush 1s -o json >"$dir/summary.json" 2>"$dir/err" &
		pid=$!
		for _ in $(seq 1 200); do [[ -s "$dir/status.json" ]] && break; sleep 0.05; done
	else
		ip netns exec "$NS_RX" taskset -c 1 tcpdump -i ecbrx$$ -n -w "$dir/t" -C 8 -W 16 -B 4096 -Z root "$FILTER" 2>"$dir/err" &
		pid=$!
		for _ in $(seq 1 200); do grep -qs "listening on" "$dir/err" && break; sleep 0.05; done
	fi
	ip netns exec "$NS_TX" taskset -c 0 tcpreplay -i ecbtx$$ --pps="$rate" --loop="$loops" "$W/mqtt.pcap" >"$dir/replay" 2>&1 &
	rep=$!
	sleep "$WARMUP_SECONDS" # steady state: startup and the first packets are behind
	ns0=$(proc_ns "$pid"); rx0=$(rx_packets)
	wait "$rep"
	sent=$(awk '/Successful packets/ {print $3}' "$dir/replay")
	sleep 1 # let the capturer drain its socket before it is measured
	cpu=$(proc_cpu "$pid"); hwm=$(proc_hwm "$pid")
	ns1=$(proc_ns "$pid"); rx1=$(rx_packets)
	kill -TERM "$pid" 2>/dev/null; kill -INT "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
	if [[ $tool == ectool* ]]; then
		captured=$("$ECTOOL_BIN" capture ls --dir "$dir" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["details"]["packets"])')
		drops=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["checks"][0]["evidence"]["kernel_dropped"])' "$dir/summary.json")
	else
		captured=0
		for f in "$dir"/t*; do captured=$((captured + $(capinfos -c -M "$f" | awk '/Number of packets/ {print $NF}'))); done
		drops=$(awk '/packets dropped by kernel/ {print $1}' "$dir/err")
	fi
	echo "${sent:-0} ${captured:-0} ${drops:-?} ${cpu:-0} ${hwm:-0} $((ns1 - ns0)) $((rx1 - rx0))"
}

median() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

echo "# ectool capture vs tcpdump -w -C 8 -W 16 -B 4096, filter '$FILTER'"
echo "# machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), commit $COMMIT, $(tcpdump --version 2>&1 | head -1), $(tcpreplay --version 2>&1 | head -1)"
echo "# sample: $SAMPLE packets of mosquitto_pub QoS 1 traffic, runs of ${SECONDS_PER_RUN}s or ${MIN_PACKETS_PER_RUN} packets, whichever is longer, median of $RUNS runs"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# whole_cpu: utime+stime from start to stop / packets sent (the target); steady_cpu: schedstat"
echo "#   on-CPU time from ${WARMUP_SECONDS}s into the replay to stop / packets the veth received then"
printf "%-16s %-8s %10s %10s %8s %16s %17s %10s\n" tool pps sent captured drops "whole_cpu_s/Mpkt" "steady_cpu_s/Mpkt" "VmHWM_kB"
declare -A FREE WHOLE STEADY
for rate in "${RATES[@]}"; do
	for tool in "${TOOLS[@]}"; do
		rows=()
		for _ in $(seq 1 $RUNS); do rows+=("$(run_once "$tool" "$rate")"); done
		# the median run by whole-run CPU per packet
		row=$(printf '%s\n' "${rows[@]}" | awk '{cpp = ($1 > 0) ? $4/$1*1e6 : 0; print cpp, $0}' | sort -n | awk -v m=$(( (RUNS + 1) / 2 )) 'NR==m {$1=""; print substr($0,2)}')
		read -r sent captured drops cpu hwm sns spk <<<"$row"
		cpp=$(awk -v c="$cpu" -v s="$sent" 'BEGIN {printf "%.2f", (s>0) ? c/s*1e6 : 0}')
		# the steady figure is the median of the runs' own steady figures
		scpp=$(printf '%s\n' "${rows[@]}" | awk '{print ($7 > 0) ? $6/$7/1000 : 0}' | median)
		scpp=$(awk -v v="$scpp" 'BEGIN {printf "%.2f", v}')
		printf "%-16s %-8s %10s %10s %8s %16s %17s %10s\n" "$tool" "$rate" "$sent" "$captured" "$drops" "$cpp" "$scpp" "$hwm"
		if [[ "$captured" == "$sent" && "$drops" == "0" ]]; then FREE[$tool]=$rate; fi
		WHOLE[$tool]=$cpp STEADY[$tool]=$scpp
	done
	if [[ -n "${WHOLE[ectool]:-}" && -n "${WHOLE[tcpdump]:-}" ]]; then
		awk -v r="$rate" -v a="${WHOLE[ectool]}" -v b="${WHOLE[tcpdump]}" -v c="${STEADY[ectool]}" -v d="${STEADY[tcpdump]}" \
			'BEGIN {printf "%-16s %-8s ectool / tcpdump CPU per packet: whole run %.2fx, steady %.2fx\n", "ratio", r, (b>0)?a/b:0, (d>0)?c/d:0}'
	fi
done
echo "drop-free rate: ectool ${FREE[ectool]:-none}, ectool-recvfrom ${FREE[ectool-recvfrom]:-none}, tcpdump ${FREE[tcpdump]:-none} pps"
