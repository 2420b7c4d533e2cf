#!/usr/bin/env bash
# The whole test suite, as CI runs it (./scripts/test.sh). Phases, each timed:
#   peers      install the real peers the tests start (apt-get, only what is missing; aedes
#              with npm ci from scripts/peers/aedes, once)
#   build      build ectool once with CGO_ENABLED=0; tests get it as ECTOOL_BIN
#   vet        go vet ./..., gofmt, no direct t.Skip outside internal/testenv, and the size
#              limits (scripts/checksize: cmd/ectool files <= 400 lines, functions <= 80 there
#              and <= 120 elsewhere)
#   test       go test -race ./... (each network test package runs in its own netns; probe/modbus, whose tests run the simulated bus in-process, last and alone)
#   fuzz       every fuzz target for $FUZZTIME (seed corpora also run in plain go test)
#   cross      cross-compile ./... for windows/amd64, darwin/arm64, linux/arm (GOARM=6), linux/386, linux/mipsle
#   release    goreleaser check + snapshot builds of linux/amd64, linux/arm v7, linux/386
#   arch       the 386 build natively (a capture in a fresh namespace: counts equal tcpdump's,
#              drop statistics present; in a qemu-system-x86_64 VM, scripts/arch386vm.sh, when
#              this kernel cannot execute 32-bit x86); arm v7 under qemu-arm-static (version, a scan of the lab's
#              rtuovertcp://, a recvfrom capture); arm v6 and mipsle under qemu-user (version, that scan)
#   docs       docs/cli is what 'ectool docs' generates now
# Fails when any phase fails or when the whole run passes 30 minutes.
# Environment: FUZZTIME (default 15s), SKIP_PHASES="fuzz release" to skip phases locally (never in CI).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
FUZZTIME=${FUZZTIME:-15s}
SKIP_PHASES=${SKIP_PHASES:-}
LIMIT_S=$((30 * 60))
START=$(date +%s)
export PATH="$PATH:$(go env GOPATH)/bin:/usr/sbin:/sbin"
WORK=$(mktemp -d /tmp/ectool-test.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

declare -a SUMMARY=()
FAILED=0

phase() { # phase NAME FUNCTION
	local name=$1 fn=$2 t0 t1 rc
	if [[ " $SKIP_PHASES " == *" $name "* ]]; then
		if [[ "${CI:-}" == "true" ]]; then
			echo "SKIP_PHASES may not skip '$name' in CI" >&2
			FAILED=1
		else
			SUMMARY+=("$(printf '%-8s skipped' "$name")")
			return 0
		fi
	fi
	echo "==> phase $name"
	t0=$(date +%s)
	"$fn"
	rc=$?
	t1=$(date +%s)
	if [[ $rc -eq 0 ]]; then
		SUMMARY+=("$(printf '%-8s ok     %4ds' "$name" $((t1 - t0)))")
	else
		SUMMARY+=("$(printf '%-8s FAILED %4ds (exit %d)' "$name" $((t1 - t0)) "$rc")")
		FAILED=1
	fi
	echo "<== phase $name: exit $rc in $((t1 - t0))s"
	return 0
}

# Debian packages the tests start as real peers.
PEER_PACKAGES=(mosquitto mosquitto-clients iproute2 socat python3-pymodbus python3-serial-asyncio mbpoll file)
# ectool capture's peers: the reference capturers and readers, setcap, the
# unit checker, the replayer of the benchmark and qemu-user for the arch phase.
PEER_PACKAGES+=(tcpdump tshark wireshark-common libcap2-bin systemd tcpreplay qemu-user-static iputils-ping)
# capture inspect's oracles: tshark (with wireshark-common's editcap) and openssl's TLS client.
PEER_PACKAGES+=(openssl)
# probe net's peers: a firewall and a resolver in test namespaces, and netcat for its benchmark.
PEER_PACKAGES+=(nftables dnsmasq-base netcat-openbsd)
# The arch phase's VM for the 386 build on kernels without IA32 emulation (scripts/arch386vm.sh):
# the emulator, a kernel with IA32 emulation and the VM's userland.
PEER_PACKAGES+=(qemu-system-x86 linux-image-amd64 busybox-static)

# apt-get update runs at most once per suite run.
APT_UPDATED=
apt_update_once() {
	[[ -n $APT_UPDATED ]] && return 0
	apt-get update -qq && APT_UPDATED=1
}

phase_peers() {
	local missing=()
	for p in "${PEER_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "all peers present: ${PEER_PACKAGES[*]}"
	else
		echo "installing: ${missing[*]}"
		if [[ $(id -u) -ne 0 ]]; then
			echo "not root: cannot apt-get install ${missing[*]}" >&2
			return 1
		fi
		apt_update_once || return 1
		# INITRD=No: linux-image-amd64 (the arch phase's VM kernel) would
		# otherwise build an initrd for this host (minutes); the VM uses its own.
		INITRD=No DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || return 1
	fi
	peers_npm || return 1
	# The packaged broker would hold port 1883 and is not what the tests start.
	if command -v systemctl >/dev/null 2>&1; then systemctl stop mosquitto >/dev/null 2>&1 || true; fi
	mosquitto -h 2>/dev/null | head -1 || true
}

# npm peers: aedes, the MQTT 3.1.1-only broker of the --mqtt-version auto
# tests (testenv.StartAedes), at the versions package-lock.json pins. npm ci
# runs once: a stamp of the lock file it installed skips it afterwards, so a
# machine offline with the packages in place still passes this phase.
peers_npm() {
	local dir=scripts/peers/aedes stamp=scripts/peers/aedes/node_modules/.ectool-installed-lock
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		# The machines we run on carry Node 20; a bare one gets Debian's
		# (older, but aedes runs on it) rather than no 3.1.1-only peer.
		if [ "$(id -u)" = 0 ]; then
			apt_update_once && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm || true
		fi
	fi
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "node and npm (Node.js >= 20) are needed for the aedes peer: install them" >&2
		return 1
	fi
	if cmp -s "$dir/package-lock.json" "$stamp"; then
		echo "npm peers present: aedes $(node -p 'require("./'$dir'/node_modules/aedes/package.json").version')"
		return 0
	fi
	(cd "$dir" && npm ci --no-audit --no-fund --prefer-offline) || return 1
	cp "$dir/package-lock.json" "$stamp"
}

phase_build() {
	CGO_ENABLED=0 go build -trimpath -o "$WORK/ectool" ./cmd/ectool || return 1
	export ECTOOL_BIN="$WORK/ectool"
	"$ECTOOL_BIN" version
}

phase_vet() {
	local rc=0
	go vet ./... || rc=1
	# Every skip goes through internal/testenv (Missing fails under CI,
	# NotApplicable says why a case cannot apply): a direct t.Skip, t.Skipf
	# or t.SkipNow anywhere else fails here, whatever the variable is named.
	go test -count=1 -run '^(TestNoDirectSkips|TestDirectSkipsAreFoundUnderAnyName)$' ./internal/testenv || rc=1
	local unformatted
	unformatted=$(gofmt -l .)
	if [[ -n "$unformatted" ]]; then
		echo "not gofmt-formatted:" >&2
		echo "$unformatted" >&2
		rc=1
	fi
	go run ./scripts/checksize || rc=1
	return $rc
}

# wirePkgs are the packages whose tests run the lab's simulated RS-485 bus
# inside the test process, beside the scanner they test. The simulated wire
# is a goroutine reading a PTY: when the machine is short of CPU it wakes
# hundreds of milliseconds late (lab/pty counts these stalls; 0.3-7.7 s were
# measured at load 6-9) and then puts two requests on the line as one frame,
# which no meter answers: a starved wire, not a bus a technician meets. They
# run after the other packages, one at a time, so that the rest of the suite
# does not starve them.
wirePkgs="github.com/ecdata/ectool/probe/modbus"

phase_test() {
	# -race needs cgo; the binary under test (ECTOOL_BIN) is the static one.
	local rc=0 rest
	rest=$(go list ./... | grep -v -x -F "$wirePkgs")
	# shellcheck disable=SC2086 # one package path per word
	CGO_ENABLED=1 go test -race -count=1 -timeout 20m $rest || rc=1
	# shellcheck disable=SC2086
	CGO_ENABLED=1 go test -race -count=1 -timeout 20m -p 1 $wirePkgs || rc=1
	return $rc
}

phase_fuzz() {
	local pkgs rc=0 log="$WORK/fuzz.log"
	pkgs=$(go list ./...)
	for pkg in $pkgs; do
		local targets
		targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
		for t in $targets; do
			echo "fuzz $pkg $t for $FUZZTIME"
			go test -run='^$' -fuzz="^${t}\$" -fuzztime="$FUZZTIME" "$pkg" 2>&1 | tee "$log"
			if [[ ${PIPESTATUS[0]} -ne 0 ]]; then
				if fuzz_deadline_race "$log" "$t"; then
					echo "fuzz $t: Go's fuzz coordinator failed the run at the end of -fuzztime with a bare 'context deadline exceeded' and no failing input: golang/go#75804 (fixed in Go 1.27), not a finding"
				else
					rc=1
				fi
			fi
		done
	done
	return $rc
}

# fuzz_deadline_race LOG TARGET: the fuzz run failed only because of a race
# in Go's fuzz coordinator before Go 1.27 (golang/go#75804): when -fuzztime
# expires, it may report the deadline of its own context as the target's
# failure. Its signature: one "--- FAIL: TARGET" whose only line is
# "context deadline exceeded", and no failing input written. A crash, a
# hang or a failed check always writes its input (or says why not).
fuzz_deadline_race() {
	local log=$1 t=$2 minor
	minor=$(go env GOVERSION | sed -nE 's/^go1\.([0-9]+).*/\1/p')
	[[ -n $minor && $minor -lt 27 ]] || return 1
	! grep -q 'Failing input written to\|panic:\|hung or terminated' "$log" &&
		[[ $(grep -c -- '--- FAIL' "$log") -eq 1 ]] &&
		[[ $(grep -A2 -- "--- FAIL: $t " "$log" | sed -n 2,3p) == "$(printf '    context deadline exceeded\nFAIL')" ]]
}

CROSS_TARGETS=("windows amd64 " "darwin arm64 " "linux arm 6" "linux 386 " "linux mipsle ")

phase_cross() {
	local rc=0 goos goarch goarm
	for t in "${CROSS_TARGETS[@]}"; do
		read -r goos goarch goarm <<<"$t"
		echo "build $goos/$goarch${goarm:+ GOARM=$goarm}"
		GOOS=$goos GOARCH=$goarch GOARM=$goarm CGO_ENABLED=0 go build -o /dev/null ./... || rc=1
	done
	return $rc
}

GORELEASER_VERSION=v2.15.1

phase_release() {
	if ! command -v goreleaser >/dev/null 2>&1 || ! goreleaser --version 2>/dev/null | grep -q "${GORELEASER_VERSION#v}"; then
		echo "installing goreleaser $GORELEASER_VERSION (once)"
		go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION" || return 1
	fi
	goreleaser check || return 1
	local rc=0 t
	for t in "linux amd64 " "linux arm 7" "linux 386 "; do
		read -r goos goarch goarm <<<"$t"
		echo "snapshot build $goos/$goarch${goarm:+ v$goarm}"
		mkdir -p "$WORK/release-$goarch$goarm"
		GOOS=$goos GOARCH=$goarch GOARM=$goarm goreleaser build --snapshot --clean --single-target \
			--output "$WORK/release-$goarch$goarm/ectool" >/dev/null || { rc=1; continue; }
		file "$WORK/release-$goarch$goarm/ectool" 2>/dev/null || ls -l "$WORK/release-$goarch$goarm/ectool"
	done
	rm -rf dist
	return $rc
}


# ---- phase arch (ectool capture, issue 9): kept in its own functions ----

# arch_binary GOARCH GOARM OUT: the release phase's build when there is one,
# else a CGO_ENABLED=0 build (armv6 and mipsle are built here).
arch_binary() {
	local goarch=$1 goarm=$2 out=$3 rel="$WORK/release-$1$2/ectool"
	if [[ -x "$rel" ]]; then
		cp "$rel" "$out"
		return 0
	fi
	GOOS=linux GOARCH=$goarch GOARM=$goarm GOMIPS=softfloat CGO_ENABLED=0 go build -o "$out" ./cmd/ectool
}

# arch_json FILE KEY...: a value from a JSON document (python3 is a peer).
arch_json() {
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    d=d[int(k)] if isinstance(d,list) else d[k]
print(d)' "$@"
}

# arch_wait SECONDS COMMAND...: wait for a condition (polling, bounded).
arch_wait() {
	local deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[[ $(date +%s) -ge $deadline ]] && return 1
		sleep 0.1
	done
}

# arch_scan RUNNER BINARY: a scan of the lab's rtuovertcp:// bus finds devices.
arch_scan() {
	local out rc
	out=$(timeout 300 $1 "$2" scan "$ARCH_BUS" --ids 1-20 --listen 0 --confirm 1 -o json)
	rc=$?
	arch_scan_verdict "${1:-native}" "$ARCH_BUS" "$rc" "$out"
}

# arch_scan_verdict WHERE BUS EXIT REPORT: the scan ran (exit 0 or 1: the lab's bus has a
# collision) and its report names devices.
arch_scan_verdict() {
	if [[ $3 -gt 1 ]] || ! grep -q '"unit_id"' <<<"$4"; then
		echo "scan under $1 failed (exit $3): $4" >&2
		return 1
	fi
	echo "  scan of $2: exit $3, $(grep -o '"unit_id"' <<<"$4" | wc -l) devices"
}

arch_tcpdump_count() { capinfos -c -M "$1" 2>/dev/null | awk '/Number of packets/ {print $NF}'; }
arch_ring_count() {
	"$ECTOOL_BIN" capture ls --dir "$1" -o json 2>/dev/null |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["details"]["packets"])'
}
# arch_at_least N COUNTER ARG: the counter reports N or more.
arch_at_least() {
	local got
	got=$("$2" "$3")
	[[ "${got:-0}" -ge $1 ]]
}

# arch_capture RUNNER BINARY WANT_DROPS: a capture on lo in a fresh namespace
# counts what tcpdump counts; WANT_DROPS=yes requires kernel drop statistics.
arch_capture() {
	local runner=$1 bin=$2 want_drops=$3 ns="ectool-arch-$$-$RANDOM" ring="$WORK/arch-ring-$RANDOM" n=50 i
	ip netns add "$ns" && ip -n "$ns" link set lo up || return 1
	ip netns exec "$ns" tcpdump -i lo -n -U -w "$ring.pcap" udp port 7777 2>"$ring.tcpdump.log" &
	local tpid=$!
	ip netns exec "$ns" $runner "$bin" capture --iface lo --dir "$ring" --ports 7777 --flush 100ms \
		--snaplen 1500 --file-size 1MiB 2>"$ring.log" >/dev/null &
	local cpid=$!
	arch_wait 30 test -s "$ring/status.json" && arch_wait 10 grep -q "listening on" "$ring.tcpdump.log" || {
		cat "$ring.log" "$ring.tcpdump.log"; kill "$cpid" "$tpid"; ip netns del "$ns"; return 1; }
	for i in $(seq 1 $n); do
		echo "reading $i" | ip netns exec "$ns" socat -u - UDP-SENDTO:127.0.0.1:7777
	done
	arch_wait 30 arch_at_least $n arch_tcpdump_count "$ring.pcap"
	arch_wait 30 arch_at_least $n arch_ring_count "$ring"
	"$ECTOOL_BIN" capture status --dir "$ring" -o json >"$ring.status.json"
	kill -TERM "$cpid" "$tpid"
	wait "$cpid" "$tpid" 2>/dev/null
	ip netns del "$ns"
	arch_capture_verdict "${runner:-native}" "$ring" "$ring.pcap" "$ring.status.json" "$ring.log" "$want_drops"
}

# arch_capture_verdict WHERE RING PCAP STATUS_JSON LOG WANT_DROPS: the ring holds as many
# packets as tcpdump's pcap (read by capinfos), and with WANT_DROPS=yes the live capture's status
# had kernel drop statistics.
arch_capture_verdict() {
	local where=$1 ring=$2 pcap=$3 status=$4 log=$5 want_drops=$6 ours theirs drops
	ours=$(arch_ring_count "$ring")
	theirs=$(arch_tcpdump_count "$pcap")
	drops=$(arch_json "$status" checks 2 evidence kernel_dropped)
	echo "  capture under $where: ectool $ours packets, tcpdump $theirs, kernel drops $drops"
	if [[ -z "$ours" || "$ours" != "$theirs" ]]; then
		echo "ectool and tcpdump disagree" >&2
		cat "$log" >&2
		return 1
	fi
	if [[ $want_drops == yes && ( -z "$drops" || "$drops" == "unavailable" ) ]]; then
		echo "no drop statistics from the native build" >&2
		return 1
	fi
	return 0
}

# arch_386_vm DIR: the 386 build natively inside a VM (scripts/arch386vm.sh: Debian's amd64
# kernel, which has IA32 emulation, under qemu-system-x86_64), for hosts whose own kernel
# cannot execute it. The VM runs version, the scan and the capture in a fresh namespace on its
# loopback and sends back its evidence, judged here by the same verdicts as the direct path.
arch_386_vm() {
	local d=$1 v="$1/vm386" rc=0 vmrc
	mkdir -p "$v"
	"$ROOT/scripts/arch386vm.sh" "$d/ectool-386" "$ECTOOL_BIN" "$v"
	vmrc=$?
	if [[ $vmrc -eq 3 ]]; then
		if [[ "${CI:-}" == "true" ]]; then
			echo "the 386 VM cannot run (see above): the peers phase installs qemu-system-x86, linux-image-amd64 and busybox-static" >&2
			return 1
		fi
		echo "  DOES NOT APPLY: this kernel cannot execute 32-bit x86 binaries and the VM that would cannot start (see above)"
		return 0
	fi
	v="$v/out"
	if [[ ! -s "$v/version.rc" ]]; then
		echo "the 386 VM sent back no evidence (exit $vmrc)" >&2
		return 1
	fi
	echo "  version (exit $(cat "$v/version.rc")): $(head -1 "$v/version")"
	[[ $(cat "$v/version.rc") == 0 ]] || rc=1
	arch_scan_verdict "a VM" "$(cat "$v/bus" 2>/dev/null)" "$(cat "$v/scan.rc" 2>/dev/null || echo 3)" \
		"$(cat "$v/scan.json" 2>/dev/null)" || rc=1
	arch_capture_verdict "a VM, fresh namespace" "$v/ring" "$v/tcpdump.pcap" "$v/status.json" "$v/capture.log" yes || rc=1
	# The VM's own verdict (it counted with tcpdump -r) must agree.
	[[ $vmrc -eq 0 ]] || rc=1
	return $rc
}

phase_arch() {
	local rc=0 d="$WORK/arch" labpid
	mkdir -p "$d"
	arch_binary 386 "" "$d/ectool-386" && arch_binary arm 7 "$d/ectool-armv7" &&
		arch_binary arm 6 "$d/ectool-armv6" && arch_binary mipsle "" "$d/ectool-mipsle" || return 1
	"$ECTOOL_BIN" lab -o json --no-capture --interval 1s >"$d/lab.json" 2>"$d/lab.log" &
	labpid=$!
	arch_wait 30 test -s "$d/lab.json" || { cat "$d/lab.log"; kill "$labpid"; return 1; }
	ARCH_BUS=$(arch_json "$d/lab.json" bus rtuovertcp)
	"$d/ectool-386" version >"$d/386.version" 2>&1
	case $? in
	0)
		echo "linux/386 (native)"
		head -1 "$d/386.version"
		arch_scan "" "$d/ectool-386" || rc=1
		arch_capture "" "$d/ectool-386" yes || rc=1
		;;
	126)
		# A kernel without IA32 emulation (Firecracker guests) cannot, and qemu-i386 crashes in
		# Go's 386 runtime: a VM with a kernel that can runs it natively.
		echo "linux/386 (native, in a VM: here it is '$(head -1 "$d/386.version" | sed 's/.*: //')')"
		arch_386_vm "$d" || rc=1
		;;
	*)
		cat "$d/386.version"
		rc=1
		;;
	esac
	echo "linux/arm v7 (qemu-arm-static)"
	timeout 120 qemu-arm-static "$d/ectool-armv7" version | head -1 || rc=1
	arch_scan qemu-arm-static "$d/ectool-armv7" || rc=1
	arch_capture qemu-arm-static "$d/ectool-armv7" no || rc=1
	echo "linux/arm v6 (qemu-arm-static -cpu arm1176)"
	timeout 120 qemu-arm-static -cpu arm1176 "$d/ectool-armv6" version | head -1 || rc=1
	arch_scan "qemu-arm-static -cpu arm1176" "$d/ectool-armv6" || rc=1
	echo "linux/mipsle (qemu-mipsel-static)"
	timeout 120 qemu-mipsel-static "$d/ectool-mipsle" version | head -1 || rc=1
	arch_scan qemu-mipsel-static "$d/ectool-mipsle" || rc=1
	kill -TERM "$labpid"
	wait "$labpid" 2>/dev/null
	return $rc
}

phase_docs() {
	local d="$WORK/docs-cli"
	"$ECTOOL_BIN" docs --dir "$d" >/dev/null || return 1
	if ! diff -r docs/cli "$d"; then
		echo "docs/cli is stale: run 'go run ./cmd/ectool docs --dir docs/cli' and commit" >&2
		return 1
	fi
	echo "docs/cli is fresh"
}

phase peers phase_peers
phase build phase_build
if [[ -z "${ECTOOL_BIN:-}" ]]; then
	echo "build failed: the remaining phases need the binary" >&2
	FAILED=1
else
	phase vet phase_vet
	phase test phase_test
	phase fuzz phase_fuzz
	phase cross phase_cross
	phase release phase_release
	phase arch phase_arch
	phase docs phase_docs
fi

TOTAL=$(($(date +%s) - START))
echo
echo "phase    result  time"
printf '%s\n' "${SUMMARY[@]}"
echo "total    $((TOTAL / 60))m$((TOTAL % 60))s (limit 30m)"
if [[ $TOTAL -gt $LIMIT_S ]]; then
	echo "the suite took longer than 30 minutes: FAIL" >&2
	FAILED=1
fi
if [[ $FAILED -ne 0 ]]; then
	echo "test.sh: FAILED"
	exit 1
fi
echo "test.sh: all phases passed"
