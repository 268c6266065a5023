// Command collector publishes node and container samples, the kernel log, runtime health and reboot-required signals from one node.
package main

import (
	"context"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/collector"
)

func main() {
	var cfg collector.Config
	daemon.Main("collector", "nodewarden collector: publishes node and container samples, the kernel log, runtime health and reboot-required signals from one node.", &cfg, func(ctx context.Context) error { return collector.Run(ctx, cfg) })
}
