#!/usr/bin/env bash
# Builds InfluxDB 1.8.10 from the Go module proxy into the tools folder, once.
set -euo pipefail
tools=${NW_TOOLS_DIR:?NW_TOOLS_DIR must be set}
version=v1.8.10
bin="$tools/influxd-$version/influxd"
if [ -x "$bin" ]; then exit 0; fi
echo "building influxd $version into $bin (about 2 minutes, once)"
mkdir -p "$(dirname "$bin")"
GOWORK=off GOFLAGS=-mod=mod GOBIN="$(dirname "$bin")" \
  go install -trimpath -ldflags "-s -w -X main.version=${version#v}" \
  "github.com/influxdata/influxdb/cmd/influxd@$version"
