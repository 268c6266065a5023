// Package testenv starts real servers for tests: InfluxDB 1.8, Prometheus, Alertmanager,
// kube-apiserver with etcd (plus a stand-in kubelet) and an embedded NATS JetStream. Each
// Start function runs the server on free loopback ports with its configuration and data in
// t.TempDir(), waits until the server's own readiness endpoint answers, and stops it (SIGTERM,
// then SIGKILL) in t.Cleanup, so a test sees exactly what production code will see and leaves
// nothing behind. Binaries come from the tools folder that `make deps` fills (see ToolsDir) or
// from Debian packages; a missing binary fails the test with a message naming `make deps`
// rather than skipping it, because a skipped integration test hides a broken setup.
package testenv
