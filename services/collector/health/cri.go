package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nodewarden/nodewarden/services/collector/cri"
)

// runtimeClient is what the CRI check needs of *cri.Client; a seam for the one state a real
// runtime will not enter on demand (RuntimeReady false).
type runtimeClient interface {
	Version(ctx context.Context) (cri.VersionInfo, error)
	Status(ctx context.Context) (cri.Status, error)
	Socket() string
}

var _ runtimeClient = (*cri.Client)(nil)

type criChecker struct {
	component string
	client    runtimeClient
}

// CRI checks the container runtime as kubelet does: Version, then Status; healthy when the
// runtime reports RuntimeReady. NetworkReady false (no CNI yet) leaves it healthy and is said in
// the message. Each call is bounded by the client's timeout. An empty component means "cri".
func CRI(client *cri.Client, component string) Checker {
	return newCRI(client, component)
}

func newCRI(client runtimeClient, component string) *criChecker {
	if component == "" {
		component = "cri"
	}
	return &criChecker{component: component, client: client}
}

func (c *criChecker) Component() string { return c.component }

func (c *criChecker) Check(ctx context.Context) Result {
	start := time.Now()
	res := Result{Component: c.component, Check: "CRI Version, Status on unix://" + strings.TrimPrefix(c.client.Socket(), "unix://")}
	v, err := c.client.Version(ctx)
	if err != nil {
		res.Message = err.Error()
		res.Latency = time.Since(start)
		return res
	}
	st, err := c.client.Status(ctx)
	res.Latency = time.Since(start)
	if err != nil {
		res.Message = err.Error()
		return res
	}
	runtime := fmt.Sprintf("%s %s (CRI %s)", v.RuntimeName, v.RuntimeVersion, v.RuntimeAPIVersion)
	notReady := st.NotReady()
	switch {
	case !st.RuntimeReady:
		res.Message = runtime + " not ready: " + notReady
	case notReady != "":
		res.Healthy = true
		res.Message = runtime + "; " + notReady
	default:
		res.Healthy = true
		res.Message = runtime
	}
	return res
}
