package consume_test

import (
	"bytes"
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/schema"
	"github.com/nodewarden/nodewarden/servicekit/testenv"
	"github.com/nodewarden/nodewarden/servicekit/topology"
)

// Undecodable messages that once could not be dead-lettered, and were nak'ed forever: one
// sourced into DETECT (its Nats-Stream-Source header may not be published again), and one
// just under the server's max payload (no room left for the dead-letter headers).
func TestDeadLetterOfSourcedAndOversizedMessages(t *testing.T) {
	f := setup(t)
	nc := f.js.Conn()
	maxPayload := int(nc.MaxPayload())
	logSubj, _ := f.sp.Log("kernel-monitor", "node-1")
	tests := []struct {
		name          string
		stream, subj  string
		data          []byte
		wantTruncated bool
	}{
		{"sourced into DETECT", topology.StreamDetect, logSubj, []byte("\xff\xfe garbage"), false},
		{"just under max payload", topology.StreamEvents, f.subj, bytes.Repeat([]byte{0xff}, maxPayload-200), true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.deadLetters(t))
			c, err := consume.New(f.js, f.pub, consume.Config{
				Stream: tt.stream, Durable: "dl-" + strconv.Itoa(i), DeadSubject: f.sp.Dead(tt.stream),
				Decode: schema.Decoder(f.sp), Handle: (&recorder{}).handle,
				RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
			}, quiet, consume.NewMetrics(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = c.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			if _, err := f.pub.PublishRaw(context.Background(), tt.subj, "big-"+strconv.Itoa(i), tt.data, nil); err != nil {
				t.Fatal(err)
			}
			testenv.WaitFor(t, 10*time.Second, "the dead letter", func() bool { return len(f.deadLetters(t)) > before })
			dl := f.deadLetters(t)[before]
			if got := dl.Header.Get(consume.HeaderOriginalStream); got != tt.stream {
				t.Errorf("original stream %q, want %q", got, tt.stream)
			}
			if got := dl.Header.Get("Nats-Stream-Source"); got != "" {
				t.Errorf("dead letter kept Nats-Stream-Source %q", got)
			}
			trunc := dl.Header.Get(consume.HeaderTruncated)
			switch {
			case !tt.wantTruncated && (trunc != "" || !bytes.Equal(dl.Data, tt.data)):
				t.Errorf("dead letter %d bytes, truncated %q; want the whole %d", len(dl.Data), trunc, len(tt.data))
			case tt.wantTruncated && (trunc != strconv.Itoa(len(tt.data)) || !bytes.HasPrefix(tt.data, dl.Data) || len(dl.Data) == 0):
				t.Errorf("dead letter %d bytes, %s %q; want a prefix of the %d and the original size", len(dl.Data),
					consume.HeaderTruncated, trunc, len(tt.data))
			}
		})
	}
}
