// Command pause is the test image's only binary: it waits for SIGTERM or SIGINT, as the
// Kubernetes pause container does, so containerd has a process to run for sandboxes and
// containers without pulling an image from a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
