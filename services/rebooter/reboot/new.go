package reboot

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options choose and configure a Rebooter from the rebooter's flags.
type Options struct {
	Method    string // "command", "signal" or "log" (the rebooter package's Method constants)
	Command   string // --reboot-command, split by SplitCommand
	HostPIDNs bool   // --host-pid-ns: run Command through nsenter into PID 1's mount namespace
	Signal    int    // --reboot-signal
	Delay     time.Duration
	Logger    *slog.Logger
}

// New builds the Rebooter the options describe, wrapped in Delayed.
func New(o Options) (Rebooter, error) {
	var r Rebooter
	switch o.Method {
	case "command":
		argv, err := SplitCommand(o.Command)
		if err != nil {
			return nil, err
		}
		if r, err = NewCommand(argv, o.HostPIDNs, o.Logger); err != nil {
			return nil, err
		}
	case "signal":
		s, err := NewSignal(o.Signal, 1, o.Logger)
		if err != nil {
			return nil, err
		}
		r = s
	case "log":
		r = &Log{Logger: o.Logger, Would: describe(o)}
	default:
		return nil, fmt.Errorf("reboot method %q: want command, signal or log", o.Method)
	}
	return &Delayed{Rebooter: r, Delay: o.Delay, Logger: o.Logger}, nil
}

func describe(o Options) string {
	if o.Command == "" {
		return fmt.Sprintf("send signal %d to pid 1", o.Signal)
	}
	argv, err := SplitCommand(o.Command)
	if err != nil {
		return "run " + o.Command
	}
	if o.HostPIDNs {
		argv = HostCommand(1, argv)
	}
	return "run " + strings.Join(argv, " ")
}
