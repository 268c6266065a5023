// Command sink writes samples and events to InfluxDB, Prometheus and Slack.
package main

import (
	"context"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/sink"
)

func main() {
	var cfg sink.Config
	daemon.Main("sink", "nodewarden sink: writes samples and events to InfluxDB, Prometheus and Slack.", &cfg, func(ctx context.Context) error { return sink.Run(ctx, cfg) })
}
