#!/usr/bin/env bash
# Installs the pinned protobuf generators (buf, protoc-gen-go) into the tools folder, once.
set -euo pipefail
tools=${NW_TOOLS_DIR:?NW_TOOLS_DIR must be set}
buf_version=v1.75.0
pgg_version=v1.36.12
dir="$tools/protogen-buf$buf_version-pgg$pgg_version"
if [ -x "$dir/buf" ] && [ -x "$dir/protoc-gen-go" ]; then exit 0; fi
echo "installing buf $buf_version and protoc-gen-go $pgg_version into $dir (once)"
mkdir -p "$dir"
export GOWORK=off GOFLAGS=-mod=mod GOBIN="$dir"
go install -trimpath "google.golang.org/protobuf/cmd/protoc-gen-go@$pgg_version"
go install -trimpath "github.com/bufbuild/buf/cmd/buf@$buf_version"
