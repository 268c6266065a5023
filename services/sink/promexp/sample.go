package promexp

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample is one container series' value for one scrape, a prometheus.Metric like the one
// prometheus.NewConstMetric returns, but with label pairs built once when the container's sample
// arrives and shared by all its series. NewConstMetric builds eight label pairs per series per
// scrape; for 100,000 series that allocation, and the cache misses of reading the scattered
// pairs back in Gather and the encoder, took the scrape past its 300 ms budget.
type sample struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair // sorted by name, read-only
	val     float64
	counter dto.Counter
	gauge   dto.Gauge
	typ     prometheus.ValueType
}

var _ prometheus.Metric = (*sample)(nil)

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(out *dto.Metric) error {
	out.Label = s.labels
	if s.typ == prometheus.CounterValue {
		s.counter.Value = &s.val
		out.Counter = &s.counter
	} else {
		s.gauge.Value = &s.val
		out.Gauge = &s.gauge
	}
	return nil
}

// pairs builds the label pairs of names and values, sorted by name as client_golang sorts them.
func pairs(names, values []string) []*dto.LabelPair {
	ps := make([]*dto.LabelPair, len(names))
	for i := range names {
		ps[i] = &dto.LabelPair{Name: &names[i], Value: &values[i]}
	}
	sortPairs(ps)
	return ps
}

// withPair is ps (sorted) plus p, sorted; the pairs of ps are shared, not copied.
func withPair(ps []*dto.LabelPair, p *dto.LabelPair) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(ps)+1)
	out = append(append(out, ps...), p)
	sortPairs(out)
	return out
}

func sortPairs(ps []*dto.LabelPair) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].GetName() < ps[j].GetName() })
}
