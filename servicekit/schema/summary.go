package schema

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// Summary describes a message in one line: its type and the fields that matter.
func Summary(m proto.Message) string {
	var b strings.Builder
	kv := func(k string, v any) { fmt.Fprintf(&b, " %s=%v", k, v) }
	q := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, " %s=%q", k, v)
		}
	}
	switch m := m.(type) {
	case *nwv1.NodeSample:
		b.WriteString("NodeSample")
		kv("node", m.GetNode())
		kv("seq", m.GetSeq())
		if c := m.GetCpu(); c != nil {
			kv("cpu_user_s", c.GetUserSeconds())
			kv("cpu_system_s", c.GetSystemSeconds())
		}
		if mem := m.GetMemory(); mem != nil {
			kv("mem_available", mem.GetAvailableBytes())
			kv("mem_total", mem.GetTotalBytes())
		}
		if l := m.GetLoad(); l != nil {
			kv("load1", l.GetLoad1())
		}
		kv("filesystems", len(m.GetFilesystems()))
		kv("interfaces", len(m.GetNetworks()))
	case *nwv1.ContainerSamples:
		b.WriteString("ContainerSamples")
		kv("node", m.GetNode())
		kv("seq", m.GetSeq())
		kv("containers", len(m.GetContainers()))
		kv("pods", len(m.GetPods()))
		if m.GetVanished() > 0 {
			kv("vanished", m.GetVanished())
		}
	case *nwv1.LogBatch:
		b.WriteString("LogBatch")
		kv("node", m.GetNode())
		kv("source", m.GetSource())
		kv("lines", len(m.GetLines()))
		if ls := m.GetLines(); len(ls) > 0 {
			q("first", ls[0].GetMessage())
		}
	case *nwv1.HealthReport:
		b.WriteString("HealthReport")
		kv("node", m.GetNode())
		kv("component", m.GetComponent())
		kv("healthy", m.GetHealthy())
		q("message", m.GetMessage())
	case *nwv1.Problem:
		b.WriteString("Problem")
		kv("node", m.GetNode())
		kv("kind", enumName(m.GetKind().String(), "PROBLEM_KIND_"))
		if m.GetType() != "" {
			kv("type", m.GetType())
			kv("status", enumName(m.GetStatus().String(), "CONDITION_STATUS_"))
		}
		kv("reason", m.GetReason())
		kv("severity", enumName(m.GetSeverity().String(), "SEVERITY_"))
		kv("source", m.GetSource())
		q("message", m.GetMessage())
	case *nwv1.RebootRequired:
		b.WriteString("RebootRequired")
		kv("node", m.GetNode())
		kv("request", m.GetRequestId())
		kv("origin", m.GetOrigin())
		q("reason", m.GetReason())
	case *nwv1.RebootStatus:
		b.WriteString("RebootStatus")
		kv("node", m.GetNode())
		kv("request", m.GetRequestId())
		kv("phase", enumName(m.GetPhase().String(), "REBOOT_PHASE_"))
		q("detail", m.GetDetail())
	default:
		fmt.Fprintf(&b, "%T", m)
	}
	return b.String()
}

func enumName(s, prefix string) string { return strings.ToLower(strings.TrimPrefix(s, prefix)) }
