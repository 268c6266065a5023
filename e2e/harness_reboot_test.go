package e2e

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"
)

// rebootProgramArg makes the test binary act as a node's reboot command (see rebootProgram).
const rebootProgramArg = "-nw-e2e-reboot-program"

// init, not TestMain (which builds the binaries), turns the re-executed test binary into the
// reboot program before anything else runs.
func init() {
	if len(os.Args) > 1 && os.Args[1] == rebootProgramArg {
		os.Exit(rebootProgram(os.Args[2:]))
	}
}

// rebootProgram is the rebooters' --reboot-command: it tells the harness (args: its URL and
// the node), which plays the machine going down and coming back, and exits 0 once the harness
// took it, as `systemctl reboot` returns once the shutdown is under way.
func rebootProgram(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: reboot-program <harness-url> <node>")
		return 2
	}
	resp, err := http.Post(args[0]+"/reboot?node="+url.QueryEscape(args[1]), "text/plain", nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "reboot program:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		fmt.Fprintln(os.Stderr, "reboot program: harness answered", resp.Status)
		return 1
	}
	return 0
}

// Reboot is one run of a node's reboot program, as the harness saw it.
type Reboot struct {
	Node string
	// Start is when the reboot program ran; Up is when the node's rebooter process had been
	// started again after the "boot" (zero until then): nothing the node does after its
	// reboot (uncordon, releasing the lock) can come before Up.
	Start, Up time.Time
	// Cordoned are the nodes unschedulable at Start, and Pods the pods still bound to this
	// node then, as the admin saw them (nil without Kube).
	Cordoned, Pods []string
	// KubeErr is why Cordoned or Pods could not be read, if they could not.
	KubeErr error
}

// serveReboot is a node rebooting: record it, check the cordon, remove the sentinel (it lives
// on tmpfs), give the node a new boot id, answer the program, and then kill the node's
// rebooter (the machine going down) and start it again (the machine back up).
func (e *Env) serveReboot(w http.ResponseWriter, r *http.Request) {
	var n *Node
	for _, c := range e.Nodes {
		if c.Name == r.URL.Query().Get("node") {
			n = c
		}
	}
	if n == nil {
		http.Error(w, "no such node", http.StatusNotFound)
		return
	}
	rec := Reboot{Node: n.Name, Start: time.Now()}
	if e.Kube != nil {
		var err1, err2 error
		rec.Cordoned, err1 = e.CordonedNodes()
		rec.Pods, err2 = e.PodsOn(n.Name)
		rec.KubeErr = errors.Join(err1, err2)
	}
	if e.Opts.OnReboot != nil {
		e.Opts.OnReboot(n)
	}
	if err := os.Remove(n.SentinelPath()); err != nil && !os.IsNotExist(err) {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := n.NewBootID(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		http.Error(w, "the harness is shutting down", http.StatusServiceUnavailable)
		return
	}
	e.reboots = append(e.reboots, rec)
	i := len(e.reboots) - 1
	e.hooks.Add(1) // under e.mu: teardown's Wait starts only after closing is set
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)

	go func() {
		defer e.hooks.Done()
		n.Rebooter.Kill()
		// Under e.mu, so that teardown either sees this run and stops it or stops us first.
		e.mu.Lock()
		if e.closing {
			e.mu.Unlock()
			return
		}
		err := n.Rebooter.start()
		e.reboots[i].Up = time.Now()
		e.mu.Unlock()
		if err != nil {
			e.T.Errorf("restart rebooter of %s after its reboot: %v", n.Name, err)
			return
		}
		if err := n.Rebooter.waitReady(60 * time.Second); err != nil {
			e.mu.Lock()
			closing := e.closing
			e.mu.Unlock()
			if !closing {
				e.T.Errorf("rebooter of %s after its reboot: %v", n.Name, err)
			}
		}
	}()
}

// Reboots returns the reboots so far, in the order they started.
func (e *Env) Reboots() []Reboot {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.reboots)
}

// maxConcurrentReboots is the largest number of nodes down at one moment: a node is down from
// its reboot's Start until its Up (or for ever, if it never came up).
func maxConcurrentReboots(rs []Reboot) int {
	type edge struct {
		at    time.Time
		delta int
	}
	var es []edge
	for _, r := range rs {
		es = append(es, edge{r.Start, 1})
		if !r.Up.IsZero() {
			es = append(es, edge{r.Up, -1})
		}
	}
	// At equal times an end comes first: touching intervals do not overlap.
	slices.SortFunc(es, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	cur, best := 0, 0
	for _, e := range es {
		cur += e.delta
		best = max(best, cur)
	}
	return best
}
