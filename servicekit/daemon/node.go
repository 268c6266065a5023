package daemon

import (
	"flag"
	"os"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// AddNodeFlag registers --node for services that run on every node. Its default is
// $NODE_NAME (set from the downward API in the DaemonSet, as NPD reads it), else the host name.
func AddNodeFlag(fs *flag.FlagSet, node *string) {
	def := os.Getenv("NODE_NAME")
	if def == "" {
		def, _ = os.Hostname()
	}
	fs.StringVar(node, "node", def, "this node's Kubernetes name (default $NODE_NAME, else the host name)")
}

// ValidateNode checks that a node name can be put in a subject.
func ValidateNode(node string) error {
	if _, err := subject.Encode(node); err != nil {
		return config.Invalid("node", node, "%v", err)
	}
	return nil
}
