#!/usr/bin/env bash
# Builds istiod (pilot-discovery) from the istio.io/istio module named in
# go.mod into $1 (default ../../build/istiod/pilot-discovery), with the one
# patch main.go describes applied through go build -overlay. Rebuilds only
# when go.mod, this script or main.go changed (a stamp beside the binary);
# the Go build cache makes a rebuild after "make clean" quick too.
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-../../build/istiod/pilot-discovery}
mkdir -p "$(dirname "$out")"
stamp="$out.stamp"
want=$(cat go.mod go.sum main.go build.sh | sha256sum | cut -d' ' -f1)
if [ -x "$out" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
go mod download istio.io/istio
dir=$(go list -m -f '{{.Dir}}' istio.io/istio)
# Go refuses overlays of files in the module cache, so the build uses a
# copy of the istio.io/istio module (about 60 MB) with the one file patched,
# through a temporary go.mod that replaces the module with that copy.
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$dir" "$work/istio"
chmod -R u+w "$work/istio"
old='s.inputs.Namespaces = multiclusterController.ConfigCluster().Namespaces()'
patched="$work/istio/pilot/pkg/serviceregistry/serviceentry/controller.go"
grep -qF "$old" "$patched" || { echo "istiod patch: '$old' not found in $patched" >&2; exit 1; }
new='if multiclusterController != nil { s.inputs.Namespaces = multiclusterController.ConfigCluster().Namespaces() } else { s.inputs.Namespaces = krt.NewStaticCollection[*v1.Namespace](nil, nil, s.opts.WithName("inputs/Namespaces")...) }'
awk -v old="$old" -v new="$new" '{ i = index($0, old); if (i) { $0 = substr($0, 1, i-1) new substr($0, i+length(old)) } print }' "$patched" > "$work/controller.go"
mv "$work/controller.go" "$patched"
cp go.mod "$work/go.mod"
cp go.sum "$work/go.sum"
echo "replace istio.io/istio => $work/istio" >> "$work/go.mod"
echo "building istiod (pilot-discovery) from $(go list -m -f '{{.Path}}@{{.Version}}' istio.io/istio); takes minutes on a cold cache" >&2
go build -modfile="$work/go.mod" -trimpath -o "$out.tmp" .
mv "$out.tmp" "$out"
echo "$want" > "$stamp"
