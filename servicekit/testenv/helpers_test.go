package testenv_test

import (
	"net"
	"net/url"
	"testing"
	"time"
)

// expectStopped registers, before any server starts, a cleanup that runs after every server's
// own stop (cleanups run last-registered first) and checks that each address given to the
// returned function no longer accepts connections: the server process is gone.
func expectStopped(t *testing.T) (add func(rawURL string)) {
	t.Helper()
	var addrs []string
	t.Cleanup(func() {
		for _, a := range addrs {
			conn, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				_ = conn.Close()
				t.Errorf("%s still accepts connections after the test's cleanup: its server was not stopped", a)
			}
		}
	})
	return func(rawURL string) {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			t.Fatalf("server URL %q has no host: %v", rawURL, err)
		}
		addrs = append(addrs, u.Host)
	}
}
