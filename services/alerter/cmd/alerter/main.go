// Command alerter turns problems into Alertmanager alerts that fire and resolve.
package main

import (
	"context"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/alerter"
)

func main() {
	var cfg alerter.Config
	daemon.Main("alerter", "nodewarden alerter: turns problems into Alertmanager alerts that fire and resolve.", &cfg, func(ctx context.Context) error { return alerter.Run(ctx, cfg) })
}
