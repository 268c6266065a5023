package nodestat

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for every parser: no input panics, and every failure is a malformed error (what the
// reader counts as a parse error). Seeds are the testdata trees' files.
// Run one with e.g. `go test -fuzz FuzzParseStat -fuzztime 30s ./services/collector/nodestat/`.

func seed(f *testing.F, rel string) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*", "proc", rel))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
}

func checkMalformed(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, errMalformed) {
		t.Fatalf("error %v is not a malformed error", err)
	}
}

func FuzzParseStat(f *testing.F) {
	seed(f, "stat")
	f.Fuzz(func(t *testing.T, b []byte) {
		cpu, err := parseStat(b, nil)
		checkMalformed(t, err)
		if err == nil && int(cpu.GetCores()) > bytes.Count(b, []byte("\n"))+1 {
			t.Fatalf("%d cores from %d lines", cpu.GetCores(), bytes.Count(b, []byte("\n"))+1)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	seed(f, "meminfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeminfo(b, nil)
		checkMalformed(t, err)
		if err == nil && m == nil {
			t.Fatal("no error and no memory stats")
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	seed(f, "net/dev")
	f.Fuzz(func(t *testing.T, b []byte) {
		nets, err := parseNetDev(b, nil, func(n []byte) string { return string(n) })
		checkMalformed(t, err)
		for _, n := range nets {
			if n.GetInterface() == "" {
				t.Fatal("interface without a name")
			}
		}
	})
}

func FuzzParsePressure(f *testing.F) {
	seed(f, "pressure/*")
	f.Fuzz(func(t *testing.T, b []byte) {
		some, _, err := parsePressure(b, nil)
		checkMalformed(t, err)
		if err == nil && some == nil {
			t.Fatal("no error and no some line")
		}
	})
}

func FuzzParseLoadavg(f *testing.F) {
	seed(f, "loadavg")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := parseLoadavg(b, nil)
		checkMalformed(t, err)
	})
}

func FuzzParseUptime(f *testing.F) {
	seed(f, "uptime")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := parseUptime(b, nil)
		checkMalformed(t, err)
	})
}

func FuzzParseBootID(f *testing.F) {
	seed(f, "sys/kernel/random/boot_id")
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := parseBootID(b)
		checkMalformed(t, err)
	})
}

func FuzzParseMountinfo(f *testing.F) {
	seed(f, "*/mountinfo")
	f.Fuzz(func(t *testing.T, b []byte) {
		ms := []*mount{{point: "/", matched: -1}, {point: "/var/lib/kubelet", matched: -1}}
		checkMalformed(t, parseMountinfo(b, nil, ms))
		checkMalformed(t, parseMounts(b, nil, ms))
	})
}
