package kube

import "time"

// SetClock replaces the exporter's clock, before first use, so tests control the heartbeat
// times the exporter writes.
func (e *Exporter) SetClock(now func() time.Time) { e.now = now }
