// Package embedded runs nats-server with JetStream inside the process: the server of
// `nodewarden run` (the default that needs nothing installed) and of every test, alone or as a
// cluster of three for fault tests.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configure one embedded server.
type Options struct {
	// StoreDir holds JetStream's file store; it is created if missing.
	StoreDir string
	// Host and Port of the client listener; Port 0 picks a free port.
	Host string
	Port int
	// ServerName names the server (needed in a cluster); empty = generated.
	ServerName string
	// MaxPayload caps one message; 0 = the server default (1 MiB).
	MaxPayload int32
	// Cluster joins the server to a cluster; nil = standalone.
	Cluster *ClusterOptions
	// Debug logs the server's own output to stderr.
	Debug bool
}

// ClusterOptions join a server to a route cluster.
type ClusterOptions struct {
	Name   string
	Host   string
	Port   int
	Routes []string // nats-route://host:port of every member, this one included
}

// Server is a running embedded server.
type Server struct {
	*server.Server
	opts Options
	port int // the client port actually bound, kept for Restart after Stop
}

// Start starts a server and waits until it accepts clients and JetStream is up.
func Start(o Options) (*Server, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = server.RANDOM_PORT
	}
	sopts := &server.Options{
		ServerName: o.ServerName,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.StoreDir,
		MaxPayload: o.MaxPayload,
		NoSigs:     true,
		NoLog:      !o.Debug,
		// The dedupe window, stream limits and the rest belong to provisioning, not here.
	}
	if c := o.Cluster; c != nil {
		sopts.Cluster = server.ClusterOpts{Name: c.Name, Host: c.Host, Port: c.Port}
		for _, r := range c.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("embedded nats: route %q: %w", r, err)
			}
			sopts.Routes = append(sopts.Routes, u)
		}
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if o.Debug {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready for connections after 30s")
	}
	srv := &Server{Server: s, opts: o}
	if addr, ok := s.Addr().(*net.TCPAddr); ok {
		srv.port = addr.Port
	}
	return srv, nil
}

// URL is the client URL to connect to.
func (s *Server) URL() string { return s.ClientURL() }

// Stop shuts the server down and waits until it is gone.
func (s *Server) Stop() {
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts a new server with the same options (and store) on the same port, as a
// process restart would. The server may already be stopped.
func (s *Server) Restart() (*Server, error) {
	o := s.opts
	o.Port = s.port
	s.Stop()
	return Start(o)
}

// StartCluster starts n servers joined in one route cluster with JetStream, stores under dir,
// and waits until JetStream can place a stream on all of them.
func StartCluster(dir string, n int) ([]*Server, error) {
	if n < 1 {
		return nil, fmt.Errorf("embedded nats cluster: n = %d", n)
	}
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, "nats-route://127.0.0.1:"+strconv.Itoa(p))
	}
	servers := make([]*Server, 0, n)
	stopAll := func() {
		for _, s := range servers {
			s.Stop()
		}
	}
	for i := 0; i < n; i++ {
		name := "nw-" + strconv.Itoa(i)
		s, err := Start(Options{
			StoreDir:   filepath.Join(dir, name),
			ServerName: name,
			Cluster:    &ClusterOptions{Name: "nodewarden", Host: "127.0.0.1", Port: ports[i], Routes: routes},
		})
		if err != nil {
			stopAll()
			return nil, fmt.Errorf("embedded nats cluster: server %d: %w", i, err)
		}
		servers = append(servers, s)
	}
	if err := waitPlaceable(servers); err != nil {
		stopAll()
		return nil, err
	}
	return servers, nil
}

// waitPlaceable waits until a stream replicated on every server can be created. A meta leader
// is not enough: until it has heard each peer's statistics it refuses such a stream with "no
// suitable peers for placement, peer offline" (a fault test saw it on a loaded machine).
func waitPlaceable(servers []*Server) error {
	nc, err := nats.Connect(servers[0].ClientURL())
	if err != nil {
		return fmt.Errorf("embedded nats cluster: connect: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("embedded nats cluster: %w", err)
	}
	cfg := jetstream.StreamConfig{Name: "NW_PLACEMENT_PROBE", Subjects: []string{"_nw.placement.probe"},
		Storage: jetstream.MemoryStorage, Replicas: len(servers)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err = js.CreateStream(ctx, cfg)
		if err == nil {
			err = js.DeleteStream(ctx, cfg.Name)
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("embedded nats cluster: a stream of %d replicas still cannot be placed after 30s: %w", len(servers), err)
		}
		time.Sleep(50 * time.Millisecond) // polling the cluster's readiness; no event to wait on
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
