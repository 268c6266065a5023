// Package allinone is `nodewarden run`: an embedded JetStream server (or an external one),
// provisioning, and all five services in one process, each with its own HTTP endpoints. It
// prints where everything listens and stops cleanly on Ctrl-C. The rebooter only logs what it
// would do unless --reboot-method says otherwise, so the machine it runs on is never rebooted
// by accident (many hosts carry a /var/run/reboot-required).
package allinone

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nodewarden/nodewarden/cmd/nodewarden/internal/provision"
	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/daemon"
	"github.com/nodewarden/nodewarden/servicekit/embedded"
	"github.com/nodewarden/nodewarden/servicekit/natsconn"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/alerter"
	"github.com/nodewarden/nodewarden/services/collector"
	"github.com/nodewarden/nodewarden/services/detector"
	"github.com/nodewarden/nodewarden/services/rebooter"
	"github.com/nodewarden/nodewarden/services/sink"
)

// Summary is the command's help text.
const Summary = "Runs the whole pipeline in one process: an embedded JetStream server (unless --nats-url is\n" +
	"given), provisioning, and the collector, detector, rebooter, sink and alerter, each serving\n" +
	"/metrics, /healthz and /readyz. Ctrl-C stops everything."

// Config is the command's configuration.
type Config struct {
	NATSURL      string
	NATSListen   string
	DataDir      string
	HTTPHost     string
	HTTPPortBase int
	Node         string
	RebootMethod string
	Prefix       string
	Settings     topology.Settings
	Log          daemon.LogOptions
	Stdout       io.Writer
}

func defaultDataDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "nodewarden", "jetstream")
}

// AddFlags registers the flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.NATSURL, "nats-url", "", "use this external NATS server instead of the embedded one; empty = embedded")
	fs.StringVar(&c.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server (port 0 = any free port)")
	fs.StringVar(&c.DataDir, "data-dir", defaultDataDir(), "JetStream store of the embedded server")
	fs.StringVar(&c.HTTPHost, "http-host", "127.0.0.1", "host the services' HTTP endpoints listen on")
	fs.IntVar(&c.HTTPPortBase, "http-port-base", 9100, "services listen on base+1 (collector) .. base+5 (alerter); 0 = any free ports")
	daemon.AddNodeFlag(fs, &c.Node)
	fs.StringVar(&c.RebootMethod, "reboot-method", rebooter.MethodLog, "the rebooter's reboot method: log (only say what it would do), command or signal")
	fs.StringVar(&c.Prefix, "subject-prefix", subject.DefaultPrefix, "first token(s) of every nodewarden subject")
	c.Settings.AddFlags(fs)
	c.Log.AddFlags(fs)
	c.Log.Format = "text"
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.NATSURL != "" {
		if err := (natsconn.Options{URL: c.NATSURL, MaxReconnectWait: time.Second}).Validate(); err != nil {
			return err
		}
	} else if _, _, err := net.SplitHostPort(c.NATSListen); err != nil {
		return config.Invalid("nats-listen", c.NATSListen, "want host:port")
	}
	if c.HTTPPortBase < 0 || c.HTTPPortBase > 65530 {
		return config.Invalid("http-port-base", c.HTTPPortBase, "want 0 or a port up to 65530")
	}
	if err := daemon.ValidateNode(c.Node); err != nil {
		return err
	}
	if err := config.OneOf("reboot-method", c.RebootMethod, rebooter.MethodLog, rebooter.MethodCommand, rebooter.MethodSignal); err != nil {
		return err
	}
	c.Settings.Prefix = c.Prefix
	if err := c.Settings.Validate(); err != nil {
		return err
	}
	return c.Log.Validate()
}

type service struct {
	name string
	run  func(ctx context.Context) error
}

// Run starts everything and blocks until ctx ends or a service fails.
func Run(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	log := c.Log.New(os.Stderr)
	out := c.Stdout
	if out == nil {
		out = os.Stdout
	}
	url := c.NATSURL
	if url == "" {
		srv, err := startEmbedded(c)
		if err != nil {
			return err
		}
		defer srv.Stop()
		url = srv.URL()
		fmt.Fprintf(out, "%-10s %s (embedded JetStream, store %s)\n", "nats", url, c.DataDir)
	}
	nopts := natsconn.Options{URL: url, MaxReconnectWait: time.Second}
	results, err := provision.Provision(ctx, nopts, c.Settings, 30*time.Second, log)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Action != topology.Unchanged {
			log.Info("provisioned", "kind", r.Kind, "name", r.Name, "action", r.Action, "detail", r.Detail)
		}
	}

	var printMu sync.Mutex
	services := c.services(nopts, log, func(name, addr string) {
		printMu.Lock()
		defer printMu.Unlock()
		fmt.Fprintf(out, "%-10s http://%s  (/metrics /healthz /readyz)\n", name, addr)
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(services))
	var wg sync.WaitGroup
	for _, s := range services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.run(ctx)
			if err != nil {
				err = fmt.Errorf("%s: %w", s.name, err)
				cancel() // one service failing stops the others
			}
			errs <- err
		}()
	}
	<-ctx.Done()
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		if err != nil {
			all = append(all, err)
		}
	}
	log.Info("stopped")
	return errors.Join(all...)
}

func startEmbedded(c Config) (*embedded.Server, error) {
	host, portStr, _ := net.SplitHostPort(c.NATSListen)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, config.Invalid("nats-listen", c.NATSListen, "bad port")
	}
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, config.Invalid("data-dir", c.DataDir, "%v", err)
	}
	srv, err := embedded.Start(embedded.Options{StoreDir: c.DataDir, Host: host, Port: port})
	if err != nil {
		return nil, fmt.Errorf("start embedded NATS on %s: %w", c.NATSListen, err)
	}
	return srv, nil
}

// services builds each service's configuration from its own flag defaults, then points it at
// this process's NATS server, logger and HTTP ports.
func (c Config) services(nopts natsconn.Options, log *slog.Logger, onListen func(string, string)) []service {
	common := func(i int) daemon.Common {
		port := 0
		if c.HTTPPortBase > 0 {
			port = c.HTTPPortBase + i
		}
		var cm daemon.Common
		cm.AddFlags(flag.NewFlagSet("", flag.ContinueOnError), "")
		cm.NATS = nopts
		cm.Prefix = c.Prefix
		cm.HTTPAddr = net.JoinHostPort(c.HTTPHost, strconv.Itoa(port))
		cm.Log = c.Log
		cm.Logger = log
		cm.OnListen = onListen
		return cm
	}
	defaults := func(cfg daemon.Configurable) { cfg.AddFlags(flag.NewFlagSet("", flag.ContinueOnError)) }

	var col collector.Config
	defaults(&col)
	col.Common, col.Node = common(1), c.Node
	// The collector's positions live beside the store; there is no kubelet to check on a
	// laptop, and the runtime's socket only where one runs.
	col.StateDir = filepath.Join(c.DataDir, "collector")
	col.KubeletHealthzURL = ""
	if _, err := os.Stat(col.CRISocket); err != nil {
		col.CRISocket = ""
	}
	var det detector.Config
	defaults(&det)
	det.Common = common(2)
	var reb rebooter.Config
	defaults(&reb)
	reb.Common, reb.Node, reb.RebootMethod = common(3), c.Node, c.RebootMethod
	var snk sink.Config
	defaults(&snk)
	snk.Common = common(4)
	var alr alerter.Config
	defaults(&alr)
	alr.Common = common(5)
	return []service{
		{"collector", func(ctx context.Context) error { return collector.Run(ctx, col) }},
		{"detector", func(ctx context.Context) error { return detector.Run(ctx, det) }},
		{"rebooter", func(ctx context.Context) error { return rebooter.Run(ctx, reb) }},
		{"sink", func(ctx context.Context) error { return sink.Run(ctx, snk) }},
		{"alerter", func(ctx context.Context) error { return alerter.Run(ctx, alr) }},
	}
}
