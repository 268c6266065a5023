package promexp

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/promhttp/zstd" // offers zstd
)

// BenchmarkScrape100kHTTP is BenchmarkScrape100k through promhttp as Prometheus asks for it,
// per response encoding: compressing ~39 MB of text is a cost of its own.
func BenchmarkScrape100kHTTP(b *testing.B) {
	s := NewStore(Options{SampleInterval: 10 * time.Second}, func() time.Time { return t0 })
	fill(b, s, 1000, 5, t0)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{OfferedCompressions: []promhttp.Compression{
		promhttp.Identity, promhttp.Gzip, promhttp.Zstd}})
	for _, enc := range []string{"identity", "gzip", "zstd"} {
		b.Run(enc, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", "text/plain;version=0.0.4;q=1")
				req.Header.Set("Accept-Encoding", enc)
				w := httptest.NewRecorder()
				w.Body = nil // discard: the recorder's buffer growth is not the handler's cost
				h.ServeHTTP(discardRecorder{w}, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d", w.Code)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
		})
	}
}

type discardRecorder struct{ *httptest.ResponseRecorder }

func (d discardRecorder) Write(p []byte) (int, error) { return io.Discard.Write(p) }
