package kube

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodewarden/nodewarden/servicekit/config"
)

// Defaults. The heartbeat is NPD's --k8s-exporter-heartbeat-period: nothing in Kubernetes reads
// the heartbeat of a custom condition, and one alerter heartbeats every node of the cluster, so a
// short period would only load the API server (1,000 nodes every 5 min ≈ 3.3 patches/s).
const (
	DefaultHeartbeat = 5 * time.Minute
	DefaultQPS       = 20
	DefaultBurst     = 40
)

// Options configure the Kubernetes exporter.
type Options struct {
	// Enabled turns the exporter on; it still needs an API server (Kubeconfig or in-cluster).
	Enabled bool
	// Kubeconfig is a kubeconfig file; empty uses the in-cluster service account when there is one.
	Kubeconfig string
	// QPS and Burst limit the exporter's own API calls (a token bucket), and the client Client
	// builds: the alerter is one process writing for every node of the cluster.
	QPS   float64
	Burst int
	// Heartbeat is how often every condition the exporter set is patched again with a fresh
	// lastHeartbeatTime (and so re-asserted if someone changed it).
	Heartbeat time.Duration
}

// AddFlags registers the exporter's flags.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.Enabled, "kube-exporter", true, "put problems on the Kubernetes Node (conditions and events) when an API server is configured (--kubeconfig or in-cluster); false turns it off")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty uses the in-cluster service account when there is one, else the Kubernetes exporter is off")
	fs.Float64Var(&o.QPS, "kube-qps", DefaultQPS, "Kubernetes API requests per second the exporter may make (must be > 0)")
	fs.IntVar(&o.Burst, "kube-burst", DefaultBurst, "Kubernetes API requests the exporter may make in a burst above --kube-qps (must be ≥ 1)")
	fs.DurationVar(&o.Heartbeat, "condition-heartbeat", DefaultHeartbeat, "how often each node condition set is patched again with a fresh heartbeat (must be > 0)")
}

// Validate checks the options; errors name the flag.
func (o Options) Validate() error {
	switch {
	case o.QPS <= 0:
		return config.Invalid("kube-qps", o.QPS, "must be > 0")
	case o.Burst < 1:
		return config.Invalid("kube-burst", o.Burst, "must be ≥ 1")
	case o.Heartbeat <= 0:
		return config.Invalid("condition-heartbeat", o.Heartbeat, "must be > 0")
	}
	return nil
}

// withDefaults fills the zero values, so options built in code (not from flags) work.
func (o Options) withDefaults() Options {
	if o.QPS <= 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst < 1 {
		o.Burst = DefaultBurst
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	return o
}

// Client builds the exporter's clientset from Kubeconfig or the in-cluster service account,
// with the client-side limit set to QPS and Burst. It returns nil, nil when the exporter is off
// or there is no Kubernetes to talk to (`nodewarden run` on a laptop).
func (o Options) Client() (kubernetes.Interface, error) {
	if !o.Enabled {
		return nil, nil
	}
	var (
		rc  *rest.Config
		err error
	)
	switch {
	case o.Kubeconfig != "":
		if rc, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig); err != nil {
			return nil, config.Invalid("kubeconfig", o.Kubeconfig, "%v", err)
		}
	case os.Getenv("KUBERNETES_SERVICE_HOST") != "":
		if rc, err = rest.InClusterConfig(); err != nil {
			return nil, fmt.Errorf("in-cluster Kubernetes config: %w", err)
		}
	default:
		return nil, nil
	}
	o = o.withDefaults()
	rc.UserAgent = "nodewarden-alerter"
	rc.QPS = float32(o.QPS)
	rc.Burst = o.Burst
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return cs, nil
}
