#!/usr/bin/env bash
# Builds the Jaeger v2 backend (cmd/jaeger, an OpenTelemetry Collector
# distribution) from the github.com/jaegertracing/jaeger module that go.mod
# names as a tool into $1 (default ../../build/jaeger/jaeger), unpatched, so
# that the end-to-end tests can run a real trace collector with in-memory
# storage (collector.yaml). It lives in its own module so
# that Jaeger's dependency graph never enters the one MOSN is built from.
# Rebuilds only when go.mod, go.sum or this script changed (a stamp beside
# the binary); the Go build cache makes a rebuild after "make clean" quick.
# The binary has no Jaeger UI assets (the module ships a placeholder page):
# the HTTP query API (/api/...) works all the same.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-../../build/jaeger/jaeger}
mkdir -p "$(dirname "$out")"
stamp="$out.stamp"
want=$(cat go.mod go.sum build.sh | sha256sum | cut -d' ' -f1)
if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
pkg=github.com/jaegertracing/jaeger/cmd/jaeger
version=$(go list -m -f '{{.Version}}' github.com/jaegertracing/jaeger)
echo "building jaeger from github.com/jaegertracing/jaeger@$version; takes minutes on a cold cache" >&2
go build -trimpath \
  -ldflags "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$version" \
  -o "$out.tmp" "$pkg"
mv "$out.tmp" "$out"
echo "$want" > "$stamp"
