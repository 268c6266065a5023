package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func runBinary(t *testing.T, env []string, name string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin(t, name), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errOut.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errOut.String()
	}
	t.Fatalf("run %s: %v", name, err)
	return
}

// Every binary answers --help, and refuses a bad flag or environment value with exit status 2
// and a message naming the flag and the value.
func TestBinariesRejectBadConfiguration(t *testing.T) {
	type invocation struct {
		name string
		args []string
	}
	var all []invocation
	for _, svc := range []string{"collector", "detector", "rebooter", "sink", "alerter"} {
		all = append(all, invocation{svc, nil})
	}
	all = append(all, invocation{"nodewarden", []string{"run"}}, invocation{"nodewarden", []string{"provision"}}, invocation{"nodewarden", []string{"tail"}}, invocation{"nodewarden", []string{"simulate"}})

	for _, inv := range all {
		label := strings.TrimSpace(inv.name + " " + strings.Join(inv.args, " "))
		t.Run(label, func(t *testing.T) {
			code, stdout, _ := runBinary(t, nil, inv.name, append(inv.args, "--help")...)
			if code != 0 || !strings.Contains(stdout, "--nats-url") && !strings.Contains(stdout, "-nats-url") {
				t.Fatalf("--help: exit %d, stdout:\n%s", code, stdout)
			}
			cases := []struct {
				env   []string
				args  []string
				names []string
			}{
				{nil, []string{"--log-format=xml"}, []string{"--log-format", `"xml"`}},
				{nil, []string{"--nats-url", "::bad"}, []string{"--nats-url", "::bad"}},
				{nil, []string{"--no-such-flag"}, []string{"no-such-flag"}},
				{[]string{"NW_LOG_LEVEL=loud"}, nil, []string{"--log-level", `"loud"`, "NW_LOG_LEVEL"}},
			}
			for _, c := range cases {
				code, _, stderr := runBinary(t, c.env, inv.name, append(append([]string(nil), inv.args...), c.args...)...)
				if code != 2 {
					t.Errorf("%v %v: exit %d, want 2; stderr: %s", c.env, c.args, code, stderr)
				}
				for _, n := range c.names {
					if !strings.Contains(stderr, n) {
						t.Errorf("%v %v: stderr does not name %s: %s", c.env, c.args, n, stderr)
					}
				}
			}
		})
	}
	if code, _, stderr := runBinary(t, nil, "rebooter", "--reboot-method=kexec"); code != 2 || !strings.Contains(stderr, "--reboot-method") {
		t.Errorf("rebooter --reboot-method=kexec: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runBinary(t, nil, "collector", "--node=bad node"); code != 2 || !strings.Contains(stderr, "--node") {
		t.Errorf("collector --node='bad node': exit %d: %s", code, stderr)
	}
	if code, _, _ := runBinary(t, nil, "nodewarden", "frobnicate"); code != 2 {
		t.Errorf("nodewarden frobnicate: exit %d, want 2", code)
	}
}
