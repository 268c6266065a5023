package drain

import (
	"bytes"
	"context"
	"log/slog"
	"sync"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	typedpolicyv1 "k8s.io/client-go/kubernetes/typed/policy/v1"
)

// evictionRecorder keeps the last 429 an eviction got. kubectl's drain retries those until its
// timeout and then reports only "global timeout reached"; the budget's own reason is what an
// operator needs to see.
type evictionRecorder struct {
	mu   sync.Mutex
	last error
}

func (r *evictionRecorder) observe(err error) {
	if err == nil || !apierrors.IsTooManyRequests(err) {
		return
	}
	r.mu.Lock()
	r.last = err
	r.mu.Unlock()
}

func (r *evictionRecorder) lastRefusal() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// recordEvictions wraps client so that policy/v1 eviction errors reach rec; everything else
// is the client itself.
func recordEvictions(client kubernetes.Interface, rec *evictionRecorder) kubernetes.Interface {
	return &recordingClient{Interface: client, rec: rec}
}

type recordingClient struct {
	kubernetes.Interface
	rec *evictionRecorder
}

func (c *recordingClient) PolicyV1() typedpolicyv1.PolicyV1Interface {
	return &recordingPolicy{PolicyV1Interface: c.Interface.PolicyV1(), rec: c.rec}
}

type recordingPolicy struct {
	typedpolicyv1.PolicyV1Interface
	rec *evictionRecorder
}

func (p *recordingPolicy) Evictions(namespace string) typedpolicyv1.EvictionInterface {
	return &recordingEvictions{EvictionInterface: p.PolicyV1Interface.Evictions(namespace), rec: p.rec}
}

type recordingEvictions struct {
	typedpolicyv1.EvictionInterface
	rec *evictionRecorder
}

func (e *recordingEvictions) Evict(ctx context.Context, eviction *policyv1.Eviction) error {
	err := e.EvictionInterface.Evict(ctx, eviction)
	e.rec.observe(err)
	return err
}

// logWriter turns the drain helper's progress lines into log records. The helper writes from
// one goroutine per pod, hence the lock.
type logWriter struct {
	mu    sync.Mutex
	log   *slog.Logger
	level slog.Level
	buf   []byte
}

func newLogWriter(log *slog.Logger, level slog.Level) *logWriter {
	return &logWriter{log: log, level: level}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// Flush logs a last line that had no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit(w.buf)
	w.buf = nil
}

func (w *logWriter) emit(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	w.log.Log(context.Background(), w.level, "drain: "+string(line))
}
