package cgroups

import (
	"errors"
	"testing"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

func TestParseKV(t *testing.T) {
	keys := []string{"usage_usec", "nr_throttled"}
	tests := []struct {
		name    string
		in      string
		want    [2]uint64
		found   uint32
		wantErr error
	}{
		{"both", "usage_usec 12\nuser_usec 3\nnr_throttled 4\n", [2]uint64{12, 4}, 3, nil},
		{"one, no final newline", "nr_throttled 4", [2]uint64{0, 4}, 2, nil},
		{"other keys' junk is not parsed", "core_sched.force_idle_usec x\nusage_usec 1\n", [2]uint64{1, 0}, 1, nil},
		{"blank lines", "\n\nusage_usec 7\n\n", [2]uint64{7, 0}, 1, nil},
		{"empty", "", [2]uint64{}, 0, errEmpty},
		{"only spaces", " \n", [2]uint64{}, 0, errEmpty},
		{"bad value keeps the rest", "usage_usec 1x\nnr_throttled 9\n", [2]uint64{0, 9}, 2, errSyntax},
		{"missing value", "usage_usec\n", [2]uint64{}, 0, errSyntax},
		{"overflow", "usage_usec 18446744073709551616\n", [2]uint64{}, 0, errRange},
		{"max uint64", "usage_usec 18446744073709551615\n", [2]uint64{18446744073709551615, 0}, 1, nil},
		{"negative", "usage_usec -1\n", [2]uint64{}, 0, errSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := []uint64{99, 99}
			found, err := parseKV([]byte(tt.in), keys, vals)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if [2]uint64(vals) != tt.want || found != tt.found {
				t.Errorf("vals %v found %b, want %v %b", vals, found, tt.want, tt.found)
			}
		})
	}
}

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		in      string
		quota   int64
		period  uint64
		wantErr error
	}{
		{"max 100000\n", -1, 100000, nil},
		{"50000 100000\n", 50000, 100000, nil},
		{"150000 50000", 150000, 50000, nil},
		{"", 0, 0, errEmpty},
		{"max\n", 0, 0, errSyntax},
		{"foo 100000\n", 0, 0, errSyntax},
		{"1 2 3\n", 0, 0, errSyntax},
		{"-5 100000\n", 0, 0, errSyntax},
		{"9223372036854775808 100000\n", 0, 0, errSyntax},
	}
	for _, tt := range tests {
		q, p, err := parseCPUMax([]byte(tt.in))
		if !errors.Is(err, tt.wantErr) || q != tt.quota || p != tt.period {
			t.Errorf("parseCPUMax(%q) = %d, %d, %v; want %d, %d, %v", tt.in, q, p, err, tt.quota, tt.period, tt.wantErr)
		}
	}
}

func TestWeightToShares(t *testing.T) {
	// runc's shares→weight is 1 + (shares-2)*9999/262142; cAdvisor's inverse below.
	tests := []struct {
		weight, shares uint64
		wantErr        error
	}{
		{1, 2, nil},      // best effort: shares 2
		{10, 237, nil},   // kubelet's 256 shares (250m)
		{39, 998, nil},   // 1024 shares (1 CPU)
		{100, 2597, nil}, // the v2 default
		{10000, 262144, nil},
		{0, 0, errRange},
		{10001, 0, errRange},
	}
	for _, tt := range tests {
		got, err := weightToShares(tt.weight)
		if got != tt.shares || !errors.Is(err, tt.wantErr) {
			t.Errorf("weightToShares(%d) = %d, %v; want %d, %v", tt.weight, got, err, tt.shares, tt.wantErr)
		}
	}
}

func TestParseFlat(t *testing.T) {
	tests := []struct {
		in      string
		v       uint64
		limited bool
		wantErr error
	}{
		{"268435456\n", 268435456, true, nil},
		{"max\n", 0, false, nil},
		{"  42  \n", 42, true, nil},
		{"", 0, false, errEmpty},
		{"\n", 0, false, errEmpty},
		{"4 2\n", 0, false, errSyntax},
		{"maximum\n", 0, false, errSyntax},
	}
	for _, tt := range tests {
		v, limited, err := parseMax([]byte(tt.in))
		if v != tt.v || limited != tt.limited || !errors.Is(err, tt.wantErr) {
			t.Errorf("parseMax(%q) = %d, %v, %v; want %d, %v, %v", tt.in, v, limited, err, tt.v, tt.limited, tt.wantErr)
		}
	}
}

func TestParseIOStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    ioTotals
		wantErr error
	}{
		{"two devices", "8:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=5 wbytes=5 rios=1 wios=1 dbytes=9 dios=1\n",
			ioTotals{15, 25, 2, 3}, nil},
		{"empty: no I/O yet", "", ioTotals{}, nil},
		{"newer keys ignored", "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0 cost.usage=77\n", ioTotals{1, 2, 3, 4}, nil},
		{"no device", "rbytes=1\n", ioTotals{}, errSyntax},
		{"no equals", "8:0 rbytes\n", ioTotals{}, errSyntax},
		{"bad number", "8:0 rbytes=x\n", ioTotals{}, errSyntax},
	}
	for _, tt := range tests {
		var got ioTotals
		err := parseIOStat([]byte(tt.in), &got)
		if got != tt.want || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseBlkio(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		read, write uint64
		wantErr     error
	}{
		{"two devices", "8:0 Read 10\n8:0 Write 20\n8:0 Sync 20\n8:0 Async 10\n8:0 Discard 0\n8:0 Total 30\n" +
			"253:0 Read 1\n253:0 Write 2\n253:0 Total 3\nTotal 33\n", 11, 22, nil},
		{"nothing yet", "Total 0\n", 0, 0, nil},
		{"empty", "", 0, 0, nil},
		{"no value", "8:0 Read\n", 0, 0, errSyntax},
		{"bad value", "8:0 Write x\n", 0, 0, errSyntax},
		{"no device", "Read 5 5\n", 0, 0, errSyntax},
	}
	for _, tt := range tests {
		r, w, err := parseBlkio([]byte(tt.in))
		if r != tt.read || w != tt.write || !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: got %d, %d, %v; want %d, %d, %v", tt.name, r, w, err, tt.read, tt.write, tt.wantErr)
		}
	}
}

func TestParseFirstPid(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr bool
	}{{"4711\n4712\n", 4711, false}, {"0\n0\n815\n", 815, false}, {"", 0, false}, {"0\n", 0, false}, {"x\n", 0, true}, {"99999999999\n", 0, true}}
	for _, tt := range tests {
		got, err := parseFirstPid([]byte(tt.in))
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("parseFirstPid(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseNetDev(t *testing.T) {
	in := "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n" +
		"    lo:  1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n" +
		"  eth0:1234567890 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n" +
		"cali1a2b3c4d5e6: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	ifs, err := parseNetDev([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 2 || string(ifs[0].name) != "eth0" || ifs[0].v[0] != 1234567890 || ifs[0].v[15] != 16 || string(ifs[1].name) != "cali1a2b3c4d5e6" {
		t.Errorf("got %+v", ifs)
	}
	for _, bad := range []string{"eth0: 1 2 3\n", ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n", "eth0: a 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"} {
		if _, err := parseNetDev([]byte(bad), nil); err == nil {
			t.Errorf("parseNetDev(%q): no error", bad)
		}
	}
}

func TestNames(t *testing.T) {
	kubepods := &dir{kind: kindKubepods}
	burst := &dir{kind: kindQoS, qos: burstable}
	tests := []struct {
		parent *dir
		name   string
		kind   dirKind
		qos    nwv1.QOSClass
		uid    string
		ok     bool
	}{
		{kubepods, "burstable", kindQoS, burstable, "", true},
		{kubepods, "besteffort", kindQoS, bestEffort, "", true},
		{kubepods, "kubepods-burstable.slice", kindQoS, burstable, "", true},
		{kubepods, "kubelet-kubepods-besteffort.slice", kindQoS, bestEffort, "", true},
		{kubepods, "pod2468ace0-1357-49bd-8f02-468ace013579", kindPod, guaranteed, "2468ace0-1357-49bd-8f02-468ace013579", true},
		{kubepods, "kubepods-podc3d4e5f6_a7b8_4c9d_8e0f_1a2b3c4d5e6f.slice", kindPod, guaranteed, "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f", true},
		{burst, "kubepods-burstable-pod6b1c5e2a_3f4d_4c1e_9a7b_2d8e0f1a3c5b.slice", kindPod, burstable, "6b1c5e2a-3f4d-4c1e-9a7b-2d8e0f1a3c5b", true},
		{burst, "pod6a1f0e3ba4b6c8d0e2f4a6b8c0d2e4f", kindPod, burstable, "6a1f0e3ba4b6c8d0e2f4a6b8c0d2e4f", true}, // static pod: md5 hash
		{burst, "burstable", 0, 0, "", false},
		{kubepods, "system.slice", 0, 0, "", false},
		{burst, "pod", 0, 0, "", false},
		{burst, "podxyz", 0, 0, "", false},
		{burst, "kubepods-burstable-pod.slice", 0, 0, "", false},
	}
	for _, tt := range tests {
		kind, qos, uid, ok := classify(tt.parent, []byte(tt.name))
		if kind != tt.kind || qos != tt.qos || uid != tt.uid || ok != tt.ok {
			t.Errorf("classify(%q) = %v %v %q %v; want %v %v %q %v", tt.name, kind, qos, uid, ok, tt.kind, tt.qos, tt.uid, tt.ok)
		}
	}
	const id = "7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b"
	for name, want := range map[string]string{
		id: id, "cri-containerd-" + id + ".scope": id, "crio-" + id + ".scope": id, "docker-" + id + ".scope": id,
		"crio-" + id: id, "crio-conmon-" + id + ".scope": "", "crio-conmon-" + id: "", "init.scope": "",
		"not-a-container": "", "0123456789ab": "0123456789ab", "0123456789a": "", "ABCDEF0123456789": "",
	} {
		got, ok := containerID([]byte(name))
		if string(got) != want || ok != (want != "") {
			t.Errorf("containerID(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}
