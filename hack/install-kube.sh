#!/usr/bin/env bash
# Builds kube-apiserver and etcd from hack/kube (a wrapper module around k8s.io/kubernetes) into
# the tools folder, once per wrapper go.sum: a second run finds them and returns at once.
set -euo pipefail
tools=${NW_TOOLS_DIR:?NW_TOOLS_DIR must be set}
here=$(cd "$(dirname "$0")/kube" && pwd)
key=$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)
dir="$tools/kube-$key"
if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/etcd" ]; then exit 0; fi
version=v1.37.2
minor=37
echo "building kube-apiserver $version and etcd into $dir (about 7 minutes, once)"
mkdir -p "$dir.tmp"
ld="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
cd "$here"
GOWORK=off GOFLAGS=-mod=mod go build -trimpath -ldflags "$ld" -o "$dir.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
GOWORK=off GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$dir.tmp/etcd" ./etcd
rm -rf "$dir" && mv "$dir.tmp" "$dir"
