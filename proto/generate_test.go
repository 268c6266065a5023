package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

// The pinned generators, installed by `make deps` (hack/install-protogen.sh).
const protogenDir = "protogen-bufv1.75.0-pggv1.36.12"

func toolsDir(t *testing.T) string {
	if d := os.Getenv("NW_TOOLS_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(home, ".cache", "nodewarden", "tools")
}

// TestGeneratedCodeIsFresh regenerates the Go code into a temp dir with the pinned tools and
// compares it with the committed code byte for byte.
func TestGeneratedCodeIsFresh(t *testing.T) {
	bin := filepath.Join(toolsDir(t), protogenDir)
	if _, err := os.Stat(filepath.Join(bin, "buf")); err != nil {
		t.Fatalf("buf not installed in %s: run `make deps`", bin)
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "buf"), "generate", "--output", out)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "BUF_CACHE_DIR="+t.TempDir())
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, b)
	}
	fresh, err := filepath.Glob(filepath.Join(out, "nodewarden", "v1", "*.pb.go"))
	if err != nil || len(fresh) == 0 {
		t.Fatalf("buf generate wrote no code (%v)", err)
	}
	committed, _ := filepath.Glob(filepath.Join("nodewarden", "v1", "*.pb.go"))
	if len(committed) != len(fresh) {
		t.Errorf("committed %d generated files, generation gives %d: run `make proto`", len(committed), len(fresh))
	}
	for _, f := range fresh {
		rel, _ := filepath.Rel(out, f)
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(rel)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make proto`", rel)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	msgs := []proto.Message{
		&nwv1.NodeSample{Node: "ip-10-0-0-1.ec2.internal", Time: timestamppb.Now(), Seq: 7, BootId: "b",
			Cpu: &nwv1.CPUStats{UserSeconds: 1.5, Cores: 2}, Memory: &nwv1.MemoryStats{TotalBytes: 1 << 30}},
		&nwv1.ContainerSamples{Node: "n", Containers: []*nwv1.ContainerSample{{Id: "abc", QosClass: nwv1.QOSClass_QOS_CLASS_BURSTABLE,
			Cpu: &nwv1.ContainerCPU{Periods: 10, ThrottledPeriods: 3, QuotaUsec: -1}}}},
		&nwv1.LogBatch{Node: "n", Source: "kernel-monitor", FirstSeq: 1, Lines: []*nwv1.LogLine{{Seq: 1, Priority: 3, Message: "BUG: x"}}},
		&nwv1.HealthReport{Node: "n", Component: "kubelet", Healthy: false, Message: "connection refused"},
		&nwv1.Problem{Node: "n", Id: "p1", Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: "KernelDeadlock",
			Status: nwv1.ConditionStatus_CONDITION_STATUS_TRUE, Reason: "DockerHung", Severity: nwv1.Severity_SEVERITY_CRITICAL},
		&nwv1.RebootRequired{Node: "n", RequestId: "r1", Reason: "sentinel", Origin: "sentinel", BootId: "b"},
		&nwv1.RebootStatus{Node: "n", RequestId: "r1", Phase: nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, Detail: "alert X firing"},
	}
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back := m.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(b, back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m, back) {
			t.Errorf("%T did not survive a round trip", m)
		}
	}
}
