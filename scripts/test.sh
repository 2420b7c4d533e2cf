#!/usr/bin/env bash
# The whole test suite, as CI runs it (./scripts/test.sh). Phases, each timed:
#   peers      install the real peers the tests start (apt-get, only what is missing)
#   build      build ectool once with CGO_ENABLED=0; tests get it as ECTOOL_BIN
#   vet        go vet ./...
#   test       go test -race ./... (each network test package runs in its own netns)
#   fuzz       every fuzz target for $FUZZTIME (seed corpora also run in plain go test)
#   cross      cross-compile ./... for windows/amd64, darwin/arm64, linux/arm (GOARM=6), linux/386, linux/mipsle
#   release    goreleaser check + snapshot builds of linux/amd64, linux/arm v7, linux/386
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
PEER_PACKAGES=(mosquitto mosquitto-clients iproute2 socat python3-pymodbus python3-serial-asyncio mbpoll file nftables dnsmasq-base iputils-ping netcat-openbsd openssl)

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
		apt-get update -qq || return 1
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" || return 1
	fi
	# The packaged broker would hold port 1883 and is not what the tests start.
	if command -v systemctl >/dev/null 2>&1; then systemctl stop mosquitto >/dev/null 2>&1 || true; fi
	mosquitto -h 2>/dev/null | head -1 || true
}

phase_build() {
	CGO_ENABLED=0 go build -trimpath -o "$WORK/ectool" ./cmd/ectool || return 1
	export ECTOOL_BIN="$WORK/ectool"
	"$ECTOOL_BIN" version
}

phase_vet() {
	go vet ./...
}

phase_test() {
	# -race needs cgo; the binary under test (ECTOOL_BIN) is the static one.
	CGO_ENABLED=1 go test -race -count=1 -timeout 20m ./...
}

phase_fuzz() {
	local pkgs rc=0
	pkgs=$(go list ./...)
	for pkg in $pkgs; do
		local targets
		targets=$(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true)
		for t in $targets; do
			echo "fuzz $pkg $t for $FUZZTIME"
			go test -run='^$' -fuzz="^${t}\$" -fuzztime="$FUZZTIME" "$pkg" || rc=1
		done
	done
	return $rc
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
