package e2e

import (
	"strings"
	"testing"

	"github.com/nodewarden/nodewarden/servicekit/testenv"
)

// `nodewarden provision` creates everything once and changes nothing the second time.
func TestProvisionCommandIsIdempotent(t *testing.T) {
	srv := testenv.StartJetStream(t)
	code, first, stderr := runBinary(t, nil, "nodewarden", "provision", "--nats-url", srv.URL(), "--log-level=error")
	if code != 0 {
		t.Fatalf("first provision: exit %d: %s", code, stderr)
	}
	if n := strings.Count(first, " created"); n != 12 {
		t.Fatalf("first provision created %d items, want 12:\n%s", n, first)
	}
	code, second, stderr := runBinary(t, nil, "nodewarden", "provision", "--nats-url", srv.URL(), "--log-level=error")
	if code != 0 {
		t.Fatalf("second provision: exit %d: %s", code, stderr)
	}
	if n := strings.Count(second, " unchanged"); n != 12 {
		t.Fatalf("second provision left %d items unchanged, want 12:\n%s", n, second)
	}
	// Changing the storage of existing streams is refused, not done silently.
	code, _, stderr = runBinary(t, nil, "nodewarden", "provision", "--nats-url", srv.URL(), "--storage=memory", "--log-level=error")
	if code == 0 || !strings.Contains(stderr, "storage is file, want memory") {
		t.Fatalf("provision --storage=memory over file streams: exit %d: %s", code, stderr)
	}
}
