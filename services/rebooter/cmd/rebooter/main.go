// Command rebooter reboots its node safely when asked: lock, alert filter, reboot windows, cordon and drain.
package main

import (
	"context"

	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/services/rebooter"
)

func main() {
	var cfg rebooter.Config
	daemon.Main("rebooter", rebooter.Summary, &cfg, func(ctx context.Context) error { return rebooter.Run(ctx, cfg) })
}
