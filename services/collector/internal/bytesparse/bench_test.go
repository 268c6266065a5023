package bytesparse

import (
	"testing"
)

// Typical inputs: a /proc/stat line, a cpu.stat file, kernel load averages.
var (
	benchStat    = []byte("cpu  470567 3563 158423 36991763 23060 0 2773 0 0 0\n")
	benchCPUStat = []byte("usage_usec 3189224\nuser_usec 2184377\nsystem_usec 1004847\nnr_periods 4210\nnr_throttled 17\nthrottled_usec 812345\n")
	sinkU        uint64
	sinkI        int64
	sinkF        float64
	sinkB        []byte
)

func BenchmarkNextLine(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for rest := benchCPUStat; len(rest) > 0; {
			sinkB, rest = NextLine(rest)
		}
	}
}

func BenchmarkField(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for rest := benchStat; len(rest) > 0; {
			sinkB, rest = Field(rest)
		}
	}
}

func BenchmarkFields(b *testing.B) {
	b.ReportAllocs()
	dst := make([][]byte, 0, 16)
	for b.Loop() {
		dst = Fields(benchStat, dst)
	}
}

func BenchmarkUint(b *testing.B) {
	b.ReportAllocs()
	v := []byte("3699176284")
	for b.Loop() {
		sinkU, _ = Uint(v)
	}
}

func BenchmarkInt(b *testing.B) {
	b.ReportAllocs()
	v := []byte("-100000")
	for b.Loop() {
		sinkI, _ = Int(v)
	}
}

func BenchmarkFloat(b *testing.B) {
	b.ReportAllocs()
	v := []byte("3183.96")
	for b.Loop() {
		sinkF, _ = Float(v)
	}
}

// The strconv fallback, for forms the kernel does not print.
func BenchmarkFloatSlow(b *testing.B) {
	b.ReportAllocs()
	v := []byte("1234567890123456.7")
	for b.Loop() {
		sinkF, _ = Float(v)
	}
}

// A whole cpu.stat file: lines, fields and numbers together.
func BenchmarkKeyValueFile(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchCPUStat)))
	for b.Loop() {
		for rest := benchCPUStat; len(rest) > 0; {
			var line []byte
			line, rest = NextLine(rest)
			_, val := Field(line)
			sinkU, _ = Uint(TrimSpace(val))
		}
	}
}
