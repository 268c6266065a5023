package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// The NATS users of deploy/kustomize/base/nats/auth.conf, loaded by a real nats-server as the
// StatefulSet loads them: TestNATSAuthMatrix tries every user against every operation the
// system has, TestNATSAuthServices runs every service with its own user.

// authConf is the file under test.
const authConf = "../deploy/kustomize/base/nats/auth.conf"

// natsUsers are auth.conf's users, in the matrix's column order.
var natsUsers = []string{"admin", "collector", "detector", "rebooter", "sink", "alerter"}

// authServer is a JetStream server configured with auth.conf.
type authServer struct {
	*server.Server
	url       string
	passwords map[string]string
	log       *violationLog
}

// violationLog is the server's logger; it keeps the permissions violations the server logs.
type violationLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *violationLog) add(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if !strings.Contains(line, "Violation") {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *violationLog) Violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *violationLog) Noticef(string, ...any)            {}
func (l *violationLog) Debugf(string, ...any)             {}
func (l *violationLog) Tracef(string, ...any)             {}
func (l *violationLog) Warnf(format string, args ...any)  { l.add(format, args...) }
func (l *violationLog) Errorf(format string, args ...any) { l.add(format, args...) }
func (l *violationLog) Fatalf(format string, args ...any) { l.add(format, args...) }

// startAuthServer starts nats-server from a config that includes a copy of auth.conf, the way
// the StatefulSet's nats.conf does, with a fresh password per user in the environment its
// $NW_<USER>_PASSWORD references read. It provisions the streams and buckets as admin.
func startAuthServer(t *testing.T) *authServer {
	t.Helper()
	dir := t.TempDir()
	auth, err := os.ReadFile(authConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), auth, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("host: 127.0.0.1\nport: -1\nserver_name: natsauth\njetstream {store_dir: %q}\ninclude ./auth.conf\n",
		filepath.Join(dir, "js"))
	confPath := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{}
	for _, u := range natsUsers {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		pw[u] = hex.EncodeToString(b)
		t.Setenv("NW_"+strings.ToUpper(u)+"_PASSWORD", pw[u])
	}
	opts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		t.Fatalf("load %s: %v", authConf, err)
	}
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server with %s: %v", authConf, err)
	}
	log := &violationLog{}
	s.SetLoggerV2(log, false, false, false)
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		t.Fatal("nats-server not ready after 30s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	srv := &authServer{Server: s, url: s.ClientURL(), passwords: pw, log: log}
	admin := srv.dial(t, "admin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := topology.Provision(ctx, admin.js, topology.DefaultSettings(), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("provision as admin: %v", err)
	}
	return srv
}

// dial connects as user, closed at cleanup.
func (s *authServer) dial(t *testing.T, user string) *client {
	t.Helper()
	c, err := dial(s.url, user, s.passwords[user])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.nc.Close)
	return c
}

// Every stream the system has, KV buckets' included.
var allStreams = []string{"SAMPLES", "LOGS", "EVENTS", "REBOOT", "DEAD", "DETECT",
	"KV_NW_CONDITIONS", "KV_NW_REBOOT_LOCK", "KV_NW_REBOOT_REQUESTS", "KV_NW_DETECTOR_PARTITIONS",
	"KV_NW_SINK_PARTITIONS", "KV_NW_SLACK_SENT"}

// matrixRow is one operation and who may do it: a mark per user of natsUsers, x allowed.
type matrixRow struct {
	marks string
	name  string
	op    op
}

// matrix is every operation the system has. Rows that change streams come last: admin does
// them for real, on the server of its own row.
func matrix() []matrixRow {
	rows := []matrixRow{
		/*adm   col   det   reb   snk   alr: x allowed, . refused */
		{"x     x     .     .     .     .", "publish nw.sample.node.n1", jsPublish("nw.sample.node.n1")},
		{"x     x     .     .     .     .", "publish nw.sample.container.n1", jsPublish("nw.sample.container.n1")},
		{"x     x     .     .     .     .", "publish nw.health.n1", jsPublish("nw.health.n1")},
		{"x     x     .     .     .     .", "publish nw.log.kmsg.n1", jsPublish("nw.log.kmsg.n1")},
		{"x     .     x     .     .     .", "publish nw.problem.n1", jsPublish("nw.problem.n1")},
		{"x     x     x     .     .     .", "publish nw.reboot.required.n1", jsPublish("nw.reboot.required.n1")},
		{"x     .     .     x     .     .", "publish nw.reboot.status.n1", jsPublish("nw.reboot.status.n1")},
		{"x     .     x     .     .     .", "publish nw.dead.DETECT", jsPublish("nw.dead.DETECT")},
		{"x     .     .     x     .     .", "publish nw.dead.REBOOT", jsPublish("nw.dead.REBOOT")},
		{"x     .     .     .     x     .", "publish nw.dead.SAMPLES", jsPublish("nw.dead.SAMPLES")},
		{"x     .     .     .     x     x", "publish nw.dead.EVENTS", jsPublish("nw.dead.EVENTS")},
		{"x     .     .     .     .     .", "subscribe nw.>", subscribe("nw.>")},
		{"x     x     x     x     x     x", "subscribe _INBOX.>", subscribe("_INBOX.>")},
		{"x     .     .     .     .     .", "JetStream account info", api("$JS.API.INFO", nil)},
		{"x     x     x     .     x     .", "STREAM.INFO SAMPLES", streamInfo("SAMPLES")},
		{"x     x     .     .     .     .", "STREAM.INFO LOGS", streamInfo("LOGS")},
		{"x     .     x     x     x     x", "STREAM.INFO EVENTS", streamInfo("EVENTS")},
		{"x     x     x     x     .     .", "STREAM.INFO REBOOT", streamInfo("REBOOT")},
		{"x     .     x     x     x     x", "STREAM.INFO DEAD", streamInfo("DEAD")},
		{"x     .     x     .     x     .", "STREAM.INFO DETECT", streamInfo("DETECT")},
		{"x     .     x     .     .     .", "STREAM.MSG.GET SAMPLES", fed("nw.sample.container.n1", api("$JS.API.STREAM.MSG.GET.SAMPLES", lastContainerSample))},
		{"x     .     x     .     .     .", "DIRECT.GET SAMPLES", fed("nw.sample.container.n1", directGet)},
		{"x     .     x     .     .     .", "durable detector-p0 on DETECT", durable("DETECT", "detector-p0", "nw.log.kmsg.n1", "nw.detect.*.log.kmsg.n1")},
		{"x     .     .     x     .     .", "durable rebooter-n1 on REBOOT", durable("REBOOT", "rebooter-n1", "nw.reboot.required.n1", "nw.reboot.required.n1")},
		{"x     .     .     .     x     .", "durable sink-influx-samples on SAMPLES", durable("SAMPLES", "sink-influx-samples", "nw.sample.node.n1", "nw.sample.node.*", "nw.sample.container.*", "nw.health.*")},
		{"x     .     .     .     x     .", "durable sink-influx-events on EVENTS", durable("EVENTS", "sink-influx-events", "nw.problem.n1", "nw.problem.*", "nw.reboot.status.*")},
		{"x     .     .     .     x     .", "durable sink-slack on EVENTS", durable("EVENTS", "sink-slack", "nw.problem.n1", "nw.problem.*", "nw.reboot.status.*")},
		{"x     .     .     .     .     x", "durable alerter-events on EVENTS", durable("EVENTS", "alerter-events", "nw.problem.n1", "nw.problem.>")},
		{"x     .     .     .     .     .", "durable nosy on LOGS", durable("LOGS", "nosy", "nw.log.kmsg.n1")},
		{"x     .     .     .     .     .", "durable nosy on DEAD", durable("DEAD", "nosy", "nw.dead.EVENTS")},
		{"x     .     .     .     .     x", "pull alerter-events (made by admin)", pullOther("EVENTS", "alerter-events", "nw.problem.n1", "nw.problem.>")},
		{"x     .     .     .     .     x", "ack a delivery of alerter-events", ackOther("EVENTS", "alerter-events", "nw.problem.n1", "nw.problem.>")},
		{"x     .     .     .     x     .", "ack a delivery of sink-slack", ackOther("EVENTS", "sink-slack", "nw.problem.n1", "nw.problem.*", "nw.reboot.status.*")},
		{"x     .     x     .     .     .", "ack a delivery of detector-p0", ackOther("DETECT", "detector-p0", "nw.log.kmsg.n1", "nw.detect.*.log.kmsg.n1")},
		{"x     .     .     .     x     .", "ordered consumer on SAMPLES", ordered("SAMPLES", "nw.sample.node.n1", "nw.sample.>", "nw.health.>")},
		{"x     .     .     .     x     .", "ordered consumer on EVENTS", ordered("EVENTS", "nw.problem.n1", "nw.problem.>")},
		{"x     .     .     .     .     .", "ordered consumer on LOGS", ordered("LOGS", "nw.log.kmsg.n1", "nw.log.>")},
		{"x     .     .     x     .     .", "ordered consumer on REBOOT", ordered("REBOOT", "nw.reboot.required.n1", "nw.reboot.required.>")},
		{"x     .     x     .     .     .", "ordered consumer on DETECT", ordered("DETECT", "nw.log.kmsg.n1", "nw.detect.>")},
		{"x     .     .     .     .     .", "ordered consumer on DEAD", ordered("DEAD", "nw.dead.EVENTS", "nw.dead.>")},
		{"x     .     x     .     x     x", "KV NW_CONDITIONS get", kvGet("NW_CONDITIONS")},
		{"x     .     x     .     .     .", "KV NW_CONDITIONS put", kvPut("NW_CONDITIONS")},
		{"x     .     x     .     .     .", "KV NW_CONDITIONS delete", kvDelete("NW_CONDITIONS")},
		{"x     .     x     .     x     x", "KV NW_CONDITIONS watch", kvWatch("NW_CONDITIONS")},
		{"x     .     x     .     .     .", "KV NW_DETECTOR_PARTITIONS get", kvGet("NW_DETECTOR_PARTITIONS")},
		{"x     .     x     .     .     .", "KV NW_DETECTOR_PARTITIONS put", kvPut("NW_DETECTOR_PARTITIONS")},
		{"x     .     x     .     .     .", "KV NW_DETECTOR_PARTITIONS delete", kvDelete("NW_DETECTOR_PARTITIONS")},
		{"x     .     x     .     .     .", "KV NW_DETECTOR_PARTITIONS watch", kvWatch("NW_DETECTOR_PARTITIONS")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_LOCK get", kvGet("NW_REBOOT_LOCK")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_LOCK put", kvPut("NW_REBOOT_LOCK")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_LOCK delete", kvDelete("NW_REBOOT_LOCK")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_LOCK watch", kvWatch("NW_REBOOT_LOCK")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_REQUESTS get", kvGet("NW_REBOOT_REQUESTS")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_REQUESTS put", kvPut("NW_REBOOT_REQUESTS")},
		{"x     .     .     x     .     .", "KV NW_REBOOT_REQUESTS delete", kvDelete("NW_REBOOT_REQUESTS")},
		{"x     .     .     .     .     .", "KV NW_REBOOT_REQUESTS watch", kvWatch("NW_REBOOT_REQUESTS")},
		{"x     .     .     .     x     .", "KV NW_SINK_PARTITIONS get", kvGet("NW_SINK_PARTITIONS")},
		{"x     .     .     .     x     .", "KV NW_SINK_PARTITIONS put", kvPut("NW_SINK_PARTITIONS")},
		{"x     .     .     .     x     .", "KV NW_SINK_PARTITIONS delete", kvDelete("NW_SINK_PARTITIONS")},
		{"x     .     .     .     x     .", "KV NW_SINK_PARTITIONS watch", kvWatch("NW_SINK_PARTITIONS")},
		{"x     .     .     .     x     .", "KV NW_SLACK_SENT get", kvGet("NW_SLACK_SENT")},
		{"x     .     .     .     x     .", "KV NW_SLACK_SENT put", kvPut("NW_SLACK_SENT")},
		{"x     .     .     .     x     .", "KV NW_SLACK_SENT delete", kvDelete("NW_SLACK_SENT")},
		{"x     .     .     .     .     .", "KV NW_SLACK_SENT watch", kvWatch("NW_SLACK_SENT")},
		{"x     .     .     .     .     .", "CONSUMER.DELETE alerter-events on EVENTS", deleteConsumer("EVENTS", "alerter-events")},
		{"x     .     .     .     .     .", "CONSUMER.DELETE sink-slack on EVENTS", deleteConsumer("EVENTS", "sink-slack")},
		{"x     .     .     .     .     .", "CONSUMER.DELETE sink-influx-samples on SAMPLES", deleteConsumer("SAMPLES", "sink-influx-samples")},
		{"x     .     .     .     .     .", "CONSUMER.DELETE detector-p0 on DETECT", deleteConsumer("DETECT", "detector-p0")},
		{"x     .     .     .     .     .", "CONSUMER.DELETE rebooter-n1 on REBOOT", deleteConsumer("REBOOT", "rebooter-n1")},
	}
	// Stream administration is provisioning's alone, on every stream; admin's row updates each
	// to what it is, then purges and deletes them all.
	for _, action := range []string{"UPDATE", "PURGE", "DELETE"} {
		for _, s := range allStreams {
			o := api("$JS.API.STREAM."+action+"."+s, nil)
			if action == "UPDATE" {
				o = streamUpdate(s)
			}
			rows = append(rows, matrixRow{"x . . . . .", "STREAM." + action + " " + s, o})
		}
	}
	return append(rows, matrixRow{"x . . . . .", "STREAM.CREATE NATSAUTH", func(ctx context.Context, u, _ *client) error {
		_, err := u.js.CreateStream(ctx, jetstream.StreamConfig{Name: "NATSAUTH", Subjects: []string{"natsauth.>"}})
		return err
	}})
}

// marks turns a row's marks into a set of users.
func marks(users []string, row string) (map[string]bool, error) {
	f := strings.Fields(row)
	if len(f) != len(users) {
		return nil, fmt.Errorf("%d marks for %d users", len(f), len(users))
	}
	out := map[string]bool{}
	for i, m := range f {
		switch m {
		case "x":
			out[users[i]] = true
		case ".":
		default:
			return nil, fmt.Errorf("mark %q: want x or .", m)
		}
	}
	return out, nil
}

// lastContainerSample is the detector's message get.
var lastContainerSample = map[string]string{"last_by_subj": "nw.sample.container.n1"}

// deleteConsumer deletes a durable that admin made first.
func deleteConsumer(stream, name string) op {
	return func(ctx context.Context, u, admin *client) error {
		if _, err := admin.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: name}); err != nil {
			return err
		}
		_, err := apiCall(ctx, u, "$JS.API.CONSUMER.DELETE."+stream+"."+name, nil)
		return err
	}
}

// TestNATSAuthMatrix: every user of auth.conf against every operation, each user on a server of
// its own, provisioned as admin: exactly the marked ones are allowed, the others are refused by
// the server (a permissions violation, never a mere timeout or error).
func TestNATSAuthMatrix(t *testing.T) {
	rows := matrix()
	for ui, user := range natsUsers {
		t.Run(user, func(t *testing.T) {
			srv := startAuthServer(t)
			admin := srv.dial(t, "admin")
			var got strings.Builder
			for _, r := range rows {
				want, err := marks(natsUsers, r.marks)
				if err != nil {
					t.Fatalf("row %q: %v", r.name, err)
				}
				v, why := attempt(srv.url, user, srv.passwords[user], admin, r.op)
				wantV := denied
				if want[user] {
					wantV = allowed
				}
				if v != wantV {
					t.Errorf("%s as %s: %s, want %s: %s", r.name, user, v, wantV, why)
				}
				fmt.Fprintf(&got, "  %-48s %s\n", r.name, v)
			}
			if t.Failed() {
				t.Logf("what %s (column %d) may do:\n%s", user, ui+1, got.String())
			}
		})
	}
}

// Nobody gets in without a user of auth.conf.
func TestNATSAuthRejectsStrangers(t *testing.T) {
	srv := startAuthServer(t)
	for _, tc := range []struct{ user, password string }{{"", ""}, {"collector", "wrong"}, {"nobody", "x"}} {
		if c, err := dial(srv.url, tc.user, tc.password); err == nil {
			c.nc.Close()
			t.Errorf("connected as %q with a wrong password", tc.user)
		}
	}
}
