#!/usr/bin/env bash
# The full release matrix as a snapshot (every platform in .goreleaser.yml,
# archives and checksums), without publishing. Slower than the CI subset.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"
command -v goreleaser >/dev/null || go install github.com/goreleaser/goreleaser/v2@v2.15.1
goreleaser check
goreleaser release --snapshot --clean --skip=publish
ls -l dist/
