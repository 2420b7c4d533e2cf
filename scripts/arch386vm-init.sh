#!/bin/sh
# /init of the VM that scripts/arch386vm.sh boots (busybox sh, PID 1, the whole root is this
# initramfs): it runs the linux/386 build of ectool natively on a Debian amd64 kernel with IA32
# emulation, for test.sh's arch phase on hosts whose kernel cannot execute 32-bit x86 at all
# (Firecracker guests) and where qemu-i386 crashes in Go's 386 runtime. The VM has no network
# device: everything below talks over the VM's own loopback.
#
# It prints progress and one "ARCH386VM RESULT PASS|FAIL ..." line on the console (ttyS0) and
# writes its evidence (version, scan report, the capture ring, tcpdump's pcap, capture status) as a
# base64 tar between "ARCH386VM-OUT BEGIN/END" lines on ttyS1, which the host stores in a file and
# judges again with its own readers (capinfos, ectool capture ls). Every step is bounded.
#
# "/init capture" is the capture step, run by the main script inside 'unshare -n' (a fresh
# network namespace, as the native path's 'ip netns add').

OUT=/tmp/out
N=100 # datagrams sent during the capture

say() { echo "arch386vm: [$(cut -d" " -f1 /proc/uptime)s] $*"; }

# wait_for SECONDS COMMAND...: poll a condition (no sleep as synchronisation: the event is awaited).
wait_for() {
	end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge $end ] && return 1
		usleep 100000
	done
}

# -Z root: as root tcpdump would switch to a user "tcpdump" this root has not got.
tcpdump_count() { tcpdump -Z root -n -r "$OUT/tcpdump.pcap" 2>/dev/null | wc -l; }
ring_count() {
	ectool capture ls --dir "$OUT/ring" -o json 2>/dev/null | sed -n 's/.*"packets":\([0-9]*\)}}$/\1/p'
}
at_least() { got=$("$2"); [ "${got:-0}" -ge "$1" ]; }

capture_step() {
	ip link set lo up || return 1
	tcpdump -Z root -i lo -n -U -w "$OUT/tcpdump.pcap" udp port 7777 2>"$OUT/tcpdump.log" &
	tpid=$!
	ectool-386 capture --iface lo --dir "$OUT/ring" --ports 7777 --flush 100ms \
		--snaplen 1500 --file-size 1MiB 2>"$OUT/capture.log" >/dev/null &
	cpid=$!
	if ! wait_for 60 test -s "$OUT/ring/status.json" || ! wait_for 30 grep -q "listening on" "$OUT/tcpdump.log"; then
		say "capture or tcpdump did not start"
		cat "$OUT/capture.log" "$OUT/tcpdump.log"
		kill $cpid $tpid
		return 1
	fi
	i=0
	while [ $i -lt $N ]; do
		i=$((i + 1))
		echo "reading $i" | timeout 20 socat -u - UDP-SENDTO:127.0.0.1:7777
	done
	wait_for 30 at_least $N tcpdump_count
	wait_for 30 at_least $N ring_count
	# The amd64 build reads the status of the live 386 capture (the same kernel).
	ectool capture status --dir "$OUT/ring" -o json >"$OUT/status.json" 2>"$OUT/status.log"
	kill -TERM $cpid $tpid
	wait $cpid
	echo $? >"$OUT/capture.rc"
	wait $tpid
	say "capture: ectool-386 $(ring_count) packets, tcpdump $(tcpdump_count) (exit $(cat "$OUT/capture.rc"))"
}

if [ "${1:-}" = capture ]; then
	capture_step
	exit $?
fi

# ---- PID 1 ----
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mkdir -p "$OUT"
export PATH=/bin:/usr/bin:/sbin:/usr/sbin HOME=/tmp TMPDIR=/tmp
ip link set lo up
say "kernel $(uname -r) $(uname -m), $(nproc) cpus"

verdict=PASS
why=""
fail() { verdict=FAIL; why="$why $*;"; say "FAIL: $*"; }

timeout 30 ectool-386 version >"$OUT/version" 2>&1
echo $? >"$OUT/version.rc"
say "ectool-386 version (exit $(cat "$OUT/version.rc")): $(head -1 "$OUT/version")"
[ "$(cat "$OUT/version.rc")" = 0 ] || fail "ectool-386 version"

ectool lab -o json --no-capture --interval 1s >/tmp/lab.json 2>/tmp/lab.log &
labpid=$!
if wait_for 60 test -s /tmp/lab.json; then
	bus=$(sed -n 's/.*"rtuovertcp":"\([^"]*\)".*/\1/p' /tmp/lab.json)
	timeout 90 ectool-386 scan "$bus" --ids 1-20 --listen 0 --confirm 1 -o json >"$OUT/scan.json" 2>"$OUT/scan.log"
	echo $? >"$OUT/scan.rc"
	echo "$bus" >"$OUT/bus"
	say "scan of $bus (exit $(cat "$OUT/scan.rc")): $(grep -o '"unit_id"' "$OUT/scan.json" | wc -l) devices"
	grep -q '"unit_id"' "$OUT/scan.json" && [ "$(cat "$OUT/scan.rc")" -le 1 ] || fail "scan"
else
	cat /tmp/lab.log
	fail "the lab did not start"
fi
kill -TERM $labpid 2>/dev/null
wait $labpid

timeout 120 unshare -n /init capture || fail "capture step"
ours=$(ring_count)
theirs=$(tcpdump_count)
drops=$(sed -n 's/.*"kernel_dropped":\([0-9]*\),"kernel_received".*/\1/p' "$OUT/status.json" | head -1)
[ -n "$ours" ] && [ "$ours" = "$theirs" ] || fail "ectool-386 counted ${ours:-nothing}, tcpdump ${theirs:-nothing}"
[ -n "$drops" ] || fail "no kernel drop statistics in capture status"

# The evidence, for the host to judge with its own readers.
stty -F /dev/ttyS1 115200 raw -echo 2>/dev/null
{
	echo "ARCH386VM-OUT BEGIN"
	tar -C "$OUT" -cz . | base64
	echo "ARCH386VM-OUT END"
} >/dev/ttyS1
say "done"
echo "ARCH386VM RESULT $verdict ectool=${ours:-none} tcpdump=${theirs:-none} kernel_dropped=${drops:-none}${why:+ (${why# })}"
sync
poweroff -f
