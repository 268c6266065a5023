package influx_test

import (
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxdb-client-go/v2/api/write"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/services/sink/influx"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var at = timestamppb.New(time.Date(2026, 7, 1, 12, 0, 0, 123456789, time.UTC))

func lineProtocol(pts []*write.Point) string {
	var sb strings.Builder
	for _, p := range pts {
		sb.WriteString(write.PointToLineProtocol(p, time.Nanosecond))
	}
	return sb.String()
}

func TestPointsGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"node_sample", &nwv1.NodeSample{
			Node: "ip-10-0-0-1.ec2.internal", Time: at, Seq: 7, BootId: "b-1", UptimeSeconds: 3600.5,
			Cpu:         &nwv1.CPUStats{UserSeconds: 10.5, SystemSeconds: 2, IdleSeconds: 100, Cores: 4},
			Load:        &nwv1.LoadAverage{Load1: 0.5, Load5: 0.25, Load15: 0.125},
			Memory:      &nwv1.MemoryStats{TotalBytes: 8 << 30, AvailableBytes: 4 << 30, FreeBytes: math.MaxUint64},
			Pressure:    &nwv1.PressureStats{CpuSome: &nwv1.PressureLine{Avg10: 1.5, TotalUsec: 42}},
			Filesystems: []*nwv1.FilesystemStats{{Mountpoint: "/", Device: "/dev/sda1", Fstype: "ext4", SizeBytes: 100, FreeBytes: 50, AvailBytes: 40, Files: 10, FilesFree: 5}},
			Networks:    []*nwv1.NetworkStats{{Interface: "eth0", RxBytes: 1000, TxBytes: 2000}},
		}},
		{"container_samples", &nwv1.ContainerSamples{
			Node: "node-a", Time: at, Seq: 3,
			Containers: []*nwv1.ContainerSample{{
				Id: "abc123", PodUid: "uid-1", QosClass: nwv1.QOSClass_QOS_CLASS_BURSTABLE, Name: "app",
				PodName: "web-0", Namespace: "default", Image: "nginx:1.27", Pids: 12,
				Cpu:    &nwv1.ContainerCPU{UsageSeconds: 12.5, Periods: 100, ThrottledPeriods: 7, ThrottledSeconds: 0.5, QuotaUsec: -1, PeriodUsec: 100000, Shares: 1024},
				Memory: &nwv1.ContainerMemory{UsageBytes: 2048, WorkingSetBytes: 1024, LimitBytes: 4096},
				Blkio:  &nwv1.ContainerBlkio{ReadBytes: 1, WriteBytes: 2},
			}, {
				// No CRI: names unknown, so those tags are left out rather than empty.
				Id: "def456", QosClass: nwv1.QOSClass_QOS_CLASS_BEST_EFFORT,
				Cpu: &nwv1.ContainerCPU{UsageSeconds: math.NaN()},
			}},
			Pods: []*nwv1.PodNetwork{{PodUid: "uid-1", PodName: "web-0", Namespace: "default", Interfaces: []*nwv1.NetworkStats{
				{Interface: "eth0", RxBytes: 5}, {Interface: "net1", RxBytes: 6},
			}}},
		}},
		{"health", &nwv1.HealthReport{Node: "node-a", Time: at, Seq: 1, Component: "kubelet", Healthy: false,
			Message: `dial "127.0.0.1:10248": refused`, Latency: durationpb.New(1500 * time.Millisecond),
			Check: "http://127.0.0.1:10248/healthz", RestartCount: 2}},
		{"problem_event", &nwv1.Problem{Node: "node-a", Time: at, Id: "p-1", Source: "kernel-monitor",
			Kind: nwv1.ProblemKind_PROBLEM_KIND_EVENT, Reason: "OOMKilling", Message: "Killed process 1234 (app)",
			Severity: nwv1.Severity_SEVERITY_WARNING, Pod: "web-0", Namespace: "default", Container: "app"}},
		{"problem_condition", &nwv1.Problem{Node: "node-a", Time: at, Id: "p-2", Source: "kernel-monitor",
			Kind: nwv1.ProblemKind_PROBLEM_KIND_CONDITION, Type: "KernelDeadlock", Status: nwv1.ConditionStatus_CONDITION_STATUS_TRUE,
			Reason: "DockerHung", Severity: nwv1.Severity_SEVERITY_CRITICAL}},
		{"reboot_status", &nwv1.RebootStatus{Node: "node-a", Time: at, RequestId: "r-1",
			Phase: nwv1.RebootPhase_REBOOT_PHASE_BLOCKED, Detail: "alert KubeNodeNotReady firing", Seq: 2, BootId: "b-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts, err := influx.Points(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if n := influx.Count(tt.msg); n != len(pts) {
				t.Errorf("Count = %d, Points made %d", n, len(pts))
			}
			got := lineProtocol(pts)
			path := filepath.Join("testdata", tt.name+".lp")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("line protocol differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func TestPointsErrors(t *testing.T) {
	tests := []struct {
		name    string
		msg     proto.Message
		wantErr error
	}{
		{"sample without time", &nwv1.NodeSample{Node: "a"}, influx.ErrNoTime},
		{"problem without time", &nwv1.Problem{Node: "a"}, influx.ErrNoTime},
		{"a type the sink does not write", &nwv1.LogBatch{Node: "a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := influx.Points(tt.msg)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
