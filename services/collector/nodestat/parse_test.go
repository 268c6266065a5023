package nodestat

import (
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *nwv1.CPUStats
	}{
		{"ten fields", "cpu  100 200 300 400 500 600 700 800 900 1000\ncpu0 1 1 1 1\n", &nwv1.CPUStats{
			UserSeconds: 1, NiceSeconds: 2, SystemSeconds: 3, IdleSeconds: 4, IowaitSeconds: 5,
			IrqSeconds: 6, SoftirqSeconds: 7, StealSeconds: 8, Cores: 1,
		}},
		{"four times (2.4 kernels)", "cpu 1 2 3 4\n", &nwv1.CPUStats{UserSeconds: 0.01, NiceSeconds: 0.02, SystemSeconds: 0.03, IdleSeconds: 0.04}},
		{"cpu lines in any order, others ignored", "intr 1 2\ncpu3 0 0 0 0\ncpu 0 0 0 0\ncpufreq x\ncpu1 0 0 0 0\n", &nwv1.CPUStats{Cores: 2}},
		{"no trailing newline", "cpu 100 0 0 0", &nwv1.CPUStats{UserSeconds: 1}},
		{"no cpu line", "cpu0 1 2 3 4\n", nil},
		{"too few", "cpu 1 2 3\n", nil},
		{"negative", "cpu 1 2 3 -4\n", nil},
		{"two cpu lines", "cpu 1 2 3 4\ncpu 1 2 3 4\n", nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in), nil)
			if tt.want == nil {
				if err == nil || !errors.Is(err, errMalformed) {
					t.Fatalf("parseStat = %v, %v; want a malformed error", got, err)
				}
				return
			}
			if err != nil || !proto.Equal(got, tt.want) {
				t.Errorf("parseStat = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *nwv1.MemoryStats
	}{
		{"units", "MemTotal: 2 kB\nHugePages_Total: 7\nMemFree: 1 kB\n", &nwv1.MemoryStats{TotalBytes: 2048, FreeBytes: 1024}},
		{"unitless needed field", "MemTotal: 5\n", &nwv1.MemoryStats{TotalBytes: 5}},
		{"unknown lines skipped unparsed", "Weird: x y z\nMemTotal: 1 kB\n", &nwv1.MemoryStats{TotalBytes: 1024}},
		{"no MemTotal", "MemFree: 1 kB\n", nil},
		{"line without key", "MemTotal: 1 kB\ngarbage\n", nil},
		{"bad unit", "MemTotal: 1 MB\n", nil},
		{"overflow", "MemTotal: 18446744073709551615 kB\n", nil},
		{"no value", "MemTotal:\n", nil},
		{"three fields", "MemTotal: 1 kB x\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeminfo([]byte(tt.in), nil)
			if tt.want == nil {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("parseMeminfo = %v, %v; want a malformed error", got, err)
				}
				return
			}
			if err != nil || !proto.Equal(got, tt.want) {
				t.Errorf("parseMeminfo = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestParsePressure(t *testing.T) {
	tests := []struct {
		name       string
		in         string
		some, full *nwv1.PressureLine
	}{
		{"some only (cpu before 5.13)", "some avg10=1.00 avg60=2.00 avg300=3.00 total=4\n", psi(1, 2, 3, 4), nil},
		{"some and full", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=9.99 avg60=0.01 avg300=100.00 total=18446744073709551615\n",
			psi(0, 0, 0, 0), psi(9.99, 0.01, 100, math.MaxUint64)},
		{"full first", "full avg10=1.00 avg60=1.00 avg300=1.00 total=1\nsome avg10=2.00 avg60=2.00 avg300=2.00 total=2\n", psi(2, 2, 2, 2), psi(1, 1, 1, 1)},
		{"no some", "full avg10=1.00 avg60=1.00 avg300=1.00 total=1\n", nil, nil},
		{"missing total", "some avg10=1.00 avg60=2.00 avg300=3.00\n", nil, nil},
		{"repeated key", "some avg10=1.00 avg10=2.00 avg300=3.00 total=1\n", nil, nil},
		{"unknown key", "some avg10=1.00 avg60=2.00 avg300=3.00 sum=1\n", nil, nil},
		{"no equals", "some avg10 avg60=2.00 avg300=3.00 total=1\n", nil, nil},
		{"unknown kind", "most avg10=1.00 avg60=2.00 avg300=3.00 total=1\n", nil, nil},
		{"two some", "some avg10=1.00 avg60=2.00 avg300=3.00 total=1\nsome avg10=1.00 avg60=2.00 avg300=3.00 total=1\n", nil, nil},
		{"empty", "", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			some, full, err := parsePressure([]byte(tt.in), nil)
			if tt.some == nil {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("parsePressure = %v, %v, %v; want a malformed error", some, full, err)
				}
				return
			}
			if err != nil || !proto.Equal(some, tt.some) || !proto.Equal(full, tt.full) {
				t.Errorf("parsePressure = %v, %v, %v; want %v, %v", some, full, err, tt.some, tt.full)
			}
		})
	}
}

func TestParseNetDev(t *testing.T) {
	const header = "Inter-|   Receive                                                |  Transmit\n" +
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"
	row := " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16"
	tests := []struct {
		name string
		in   string
		want []*nwv1.NetworkStats
		bad  bool
	}{
		{"header only", header, nil, false},
		{"counters map", header + "eth0:" + row + "\n", []*nwv1.NetworkStats{netStats("eth0", 1, 2, 3, 4, 9, 10, 11, 12)}, false},
		{"no space after colon", header + "  eth0:1" + row[2:] + "\n", []*nwv1.NetworkStats{netStats("eth0", 1, 2, 3, 4, 9, 10, 11, 12)}, false},
		{"long names and blank lines", header + "\nvethabcdef012345:" + row + "\n\n", []*nwv1.NetworkStats{netStats("vethabcdef012345", 1, 2, 3, 4, 9, 10, 11, 12)}, false},
		{"15 counters", header + "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n", nil, true},
		{"17 counters", header + "eth0:" + row + " 17\n", nil, true},
		{"non-numeric", header + "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n", nil, true},
		{"no name", header + ":" + row + "\n", nil, true},
		{"line without colon", header + "eth0" + row + "\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNetDev([]byte(tt.in), nil, func(b []byte) string { return string(b) })
			if tt.bad {
				if !errors.Is(err, errMalformed) {
					t.Fatalf("parseNetDev = %v, %v; want a malformed error", got, err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("parseNetDev = %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if !proto.Equal(got[i], tt.want[i]) {
					t.Errorf("interface %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseSmallFiles(t *testing.T) {
	if v, err := parseUptime([]byte("8213412.55 63882010.41\n"), nil); err != nil || v != 8213412.55 {
		t.Errorf("parseUptime = %v, %v", v, err)
	}
	for _, bad := range []string{"", "\n", "x 1", "-1 2"} {
		if _, err := parseUptime([]byte(bad), nil); !errors.Is(err, errMalformed) {
			t.Errorf("parseUptime(%q) error %v, want malformed", bad, err)
		}
	}
	if id, err := parseBootID([]byte("1698d861-ff76-48b5-a8e7-907476029275\n")); err != nil || string(id) != "1698d861-ff76-48b5-a8e7-907476029275" {
		t.Errorf("parseBootID = %q, %v", id, err)
	}
	for _, bad := range []string{"", " \n", "a b", strings.Repeat("x", 65)} {
		if _, err := parseBootID([]byte(bad)); !errors.Is(err, errMalformed) {
			t.Errorf("parseBootID(%q) error %v, want malformed", bad, err)
		}
	}
	if l, err := parseLoadavg([]byte("0.00 0.01 12.50 1/190 8421\n"), nil); err != nil || !proto.Equal(l, &nwv1.LoadAverage{Load5: 0.01, Load15: 12.5}) {
		t.Errorf("parseLoadavg = %v, %v", l, err)
	}
	for _, bad := range []string{"", "1 2", "1 x 3", "1 2 -3"} {
		if _, err := parseLoadavg([]byte(bad), nil); !errors.Is(err, errMalformed) {
			t.Errorf("parseLoadavg(%q) error %v, want malformed", bad, err)
		}
	}
}

func TestMountTables(t *testing.T) {
	mk := func(points ...string) []*mount {
		var ms []*mount
		for _, p := range points {
			ms = append(ms, &mount{point: p, matched: -1})
		}
		return ms
	}
	info := "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n" +
		"2 1 8:2 / /var rw shared:1 master:2 - xfs /dev/sda2 rw\n" +
		"3 1 8:3 / /var/lib rw - btrfs /dev/sda3 rw\n" +
		"4 1 8:4 / /var/lib\\040x rw - ext4 /dev/sda4 rw\n" +
		"5 1 8:5 / /varnish rw - ext4 /dev/sda5 rw\n"
	ms := mk("/", "/var", "/var/lib/kubelet", "/var/lib x", "/varnish/cache", "/variable")
	if err := parseMountinfo([]byte(info), nil, ms); err != nil {
		t.Fatal(err)
	}
	want := [][2]string{{"/dev/sda1", "ext4"}, {"/dev/sda2", "xfs"}, {"/dev/sda3", "btrfs"}, {"/dev/sda4", "ext4"}, {"/dev/sda5", "ext4"}, {"/dev/sda1", "ext4"}}
	for i, m := range ms {
		if m.device != want[i][0] || m.fstype != want[i][1] {
			t.Errorf("%s: %s %s, want %s %s", m.point, m.device, m.fstype, want[i][0], want[i][1])
		}
	}
	for _, bad := range []string{"1 0 8:1 / / rw ext4 /dev/sda1 rw x\n", "1 0 8:1 / / rw - ext4\n", "short\n"} {
		if err := parseMountinfo([]byte(bad), nil, mk("/")); !errors.Is(err, errMalformed) {
			t.Errorf("parseMountinfo(%q) error %v, want malformed", bad, err)
		}
	}
	ms = mk("/", "/mnt/a b")
	if err := parseMounts([]byte("rootfs / rootfs rw 0 0\n/dev/vda / ext4 rw 0 0\n//srv/share /mnt/a\\040b cifs rw 0 0\n"), nil, ms); err != nil {
		t.Fatal(err)
	}
	if ms[0].device != "/dev/vda" || ms[1].device != "//srv/share" || ms[1].fstype != "cifs" {
		t.Errorf("parseMounts: %+v %+v", *ms[0], *ms[1])
	}
	if err := parseMounts([]byte("a b c\n"), nil, mk("/")); !errors.Is(err, errMalformed) {
		t.Errorf("parseMounts of a short line: %v", err)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`: "/plain", `/a\040b`: "/a b", `/t\011ab`: "/t\tab", `/back\134slash`: `/back\slash`,
		`/trail\04`: `/trail\04`, `/not\08x`: `/not\08x`, `\`: `\`,
	} {
		if got := string(unescape([]byte(in))); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
