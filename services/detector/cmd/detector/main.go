// Command detector evaluates Node Problem Detector rules on logs and health reports and publishes problems and condition changes.
package main

import (
	"context"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/detector"
)

func main() {
	var cfg detector.Config
	daemon.Main("detector", "nodewarden detector: evaluates Node Problem Detector rules on logs and health reports and publishes problems and condition changes.", &cfg, func(ctx context.Context) error { return detector.Run(ctx, cfg) })
}
