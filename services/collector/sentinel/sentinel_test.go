package sentinel

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// host makes a host root with a boot id and, when present, the sentinel file.
func host(t *testing.T, bootID string, present bool) string {
	t.Helper()
	root := t.TempDir()
	setBoot(t, root, bootID)
	if present {
		touch(t, root)
	}
	return root
}

func setBoot(t *testing.T, root, bootID string) {
	t.Helper()
	p := filepath.Join(root, "proc/sys/kernel/random/boot_id")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(bootID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func touch(t *testing.T, root string) {
	t.Helper()
	p := filepath.Join(root, "var/run/reboot-required")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

type recorder struct {
	got  []*nwv1.RebootRequired
	fail error
}

func (r *recorder) publish(_ context.Context, m *nwv1.RebootRequired) error {
	if r.fail != nil {
		return r.fail
	}
	r.got = append(r.got, m)
	return nil
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		name    string
		present bool
		path    string
		command []string
		want    bool
		wantErr string
	}{
		{name: "file present", present: true, path: "/var/run/reboot-required", want: true},
		{name: "file absent", path: "/var/run/reboot-required"},
		{name: "nothing configured", present: true},
		{name: "command exits 0", command: []string{"true"}, want: true},
		{name: "command exits 1", command: []string{"false"}},
		{name: "command wins over file", present: true, path: "/var/run/reboot-required", command: []string{"false"}},
		{name: "command not found", command: []string{"/nonexistent/needs-restarting"}, wantErr: "/nonexistent/needs-restarting"},
		{name: "command with arguments", command: []string{"sh", "-c", "exit 0"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(Options{HostRoot: host(t, "b1", tc.present), Path: tc.path, Command: tc.command, Node: "n1"})
			if err != nil {
				t.Fatal(err)
			}
			got, err := w.Required(context.Background())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Required = %v, %v; want an error naming %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Required = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestCommandTimeout(t *testing.T) {
	w, err := New(Options{HostRoot: host(t, "b1", false), Command: []string{"sleep", "10"}, Timeout: 50 * time.Millisecond, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.Required(context.Background()); got || err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Required = %v, %v; want a timeout error", got, err)
	}
}

func TestNsenterPrefix(t *testing.T) {
	w, err := New(Options{HostRoot: "/", Command: []string{"test", "-f", "/x"}, HostPIDNs: true, Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nsenter", "-m/proc/1/ns/mnt", "--", "test", "-f", "/x"}
	if got := w.argv(); !reflect.DeepEqual(got, want) {
		t.Fatalf("argv = %q, want %q", got, want)
	}
}

// TestOncePerBoot: the sentinel that stays asks once; a failed publish is retried at the next
// check; a restart (a new Watcher on the same state) does not ask again; a new boot does.
func TestOncePerBoot(t *testing.T) {
	root := host(t, "boot-1", true)
	stateDir := t.TempDir()
	opts := Options{HostRoot: root, Path: "/var/run/reboot-required", Node: "ip-10-0-0-1.ec2.internal", StateDir: stateDir,
		Now: func() time.Time { return time.Unix(1700000000, 0) }}
	ctx := context.Background()
	rec := &recorder{fail: errors.New("nats down")}

	w, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if w.Check(ctx, rec.publish) {
		t.Fatal("Check reported a publish that failed")
	}
	rec.fail = nil
	for range 3 {
		w.Check(ctx, rec.publish)
	}
	if len(rec.got) != 1 {
		t.Fatalf("published %d requests in one boot, want 1", len(rec.got))
	}
	r := rec.got[0]
	if r.RequestId != "sentinel:ip-10-0-0-1.ec2.internal:boot-1" || r.BootId != "boot-1" || r.Reason != Reason || r.Node != opts.Node {
		t.Fatalf("request = %v", r)
	}
	if c := w.Counts(); c.PublishErrors != 1 || c.Published != 1 || c.Checks != 4 {
		t.Fatalf("counts = %+v", c)
	}

	restarted, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if restarted.Check(ctx, rec.publish) || len(rec.got) != 1 {
		t.Fatalf("a restarted watcher asked again in the same boot (%d requests)", len(rec.got))
	}

	setBoot(t, root, "boot-2")
	if !restarted.Check(ctx, rec.publish) || len(rec.got) != 2 || rec.got[1].RequestId != "sentinel:ip-10-0-0-1.ec2.internal:boot-2" {
		t.Fatalf("a new boot with the sentinel still there did not ask again: %v", rec.got)
	}
}

func TestNoRequestWithoutSentinel(t *testing.T) {
	root := host(t, "boot-1", false)
	w, err := New(Options{HostRoot: root, Path: "/var/run/reboot-required", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	w.Check(context.Background(), rec.publish)
	if len(rec.got) != 0 {
		t.Fatalf("published %v without a sentinel", rec.got)
	}
	touch(t, root)
	w.Check(context.Background(), rec.publish)
	if len(rec.got) != 1 {
		t.Fatalf("published %d after the sentinel appeared, want 1", len(rec.got))
	}
}

func TestDamagedStateStartsAfresh(t *testing.T) {
	root := host(t, "boot-1", true)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sentinel.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := New(Options{HostRoot: root, Path: "/var/run/reboot-required", Node: "n1", StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if !w.Check(context.Background(), rec.publish) {
		t.Fatal("no request after a damaged state file")
	}
}

func TestBootIDUnreadable(t *testing.T) {
	w, err := New(Options{HostRoot: t.TempDir(), Path: "/var/run/reboot-required", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if w.Check(context.Background(), rec.publish) || w.Counts().CheckErrors != 1 {
		t.Fatalf("counts = %+v, want one check error", w.Counts())
	}
}
