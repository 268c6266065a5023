package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	nwv1 "github.com/nodewarden/nodewarden/proto/nodewarden/v1"
	"github.com/nodewarden/nodewarden/servicekit/consume"
	"github.com/nodewarden/nodewarden/servicekit/subject"
	"github.com/nodewarden/nodewarden/servicekit/topology"
	"github.com/nodewarden/nodewarden/services/alerter"
	"github.com/nodewarden/nodewarden/services/sink/influx"
	"github.com/nodewarden/nodewarden/services/sink/slack"
)

// deadLetter is one message of the DEAD stream, by its headers.
type deadLetter struct {
	Subject   string // nw.dead.<stream>
	Original  string // Nw-Original-Subject
	Consumer  string // Nw-Consumer
	Reason    string // Nw-Dead-Reason
	Bad       int    // the bad-input index (badHeader), -1 for a message the test did not send
	Size      int
	Truncated string // Nw-Dead-Truncated: the original size when the copy was cut
}

// readDead returns every message of DEAD.
func readDead(js jetstream.JetStream) ([]deadLetter, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, topology.StreamDead, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("read DEAD: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read DEAD: %w", err)
	}
	var out []deadLetter
	for left := int(info.NumPending); left > 0; {
		batch, err := c.Fetch(min(left, 100), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read DEAD: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			h := m.Headers()
			d := deadLetter{Subject: m.Subject(), Original: h.Get(consume.HeaderOriginalSubject),
				Consumer: h.Get(consume.HeaderConsumer), Reason: h.Get(consume.HeaderReason), Bad: -1, Size: len(m.Data()),
				Truncated: h.Get(consume.HeaderTruncated)}
			if v := h.Get(badHeader); v != "" {
				d.Bad, _ = strconv.Atoi(v)
			}
			out = append(out, d)
		}
		if batch.Error() != nil {
			return nil, fmt.Errorf("read DEAD: %w", batch.Error())
		}
		if got == 0 {
			return nil, fmt.Errorf("read DEAD: %d messages not delivered", left)
		}
		left -= got
	}
	return out, nil
}

// detectorConsumer stands for every detector-p<N> durable: which partition a node falls in is
// the server's hash.
const detectorConsumer = "detector-p*"

// consumersOf are the durable consumers that read subj (a subject of the default space), as
// the services configure them; rebooterOf is the durable of the node whose rebooter runs.
func consumersOf(subj, rebooterNode string) []string {
	kinds := []struct {
		prefix    string
		consumers []string
	}{
		{"nw.sample.node.", []string{influx.DurableSamples, detectorConsumer}},
		{"nw.sample.container.", []string{influx.DurableSamples}},
		{"nw.health.", []string{influx.DurableSamples, detectorConsumer}},
		{"nw.log.", []string{detectorConsumer}},
		{"nw.problem.", []string{influx.DurableEvents, slack.Durable, alerter.Durable}},
		{"nw.reboot.status.", []string{influx.DurableEvents, slack.Durable}},
	}
	for _, k := range kinds {
		if strings.HasPrefix(subj, k.prefix) {
			return k.consumers
		}
	}
	if tok, ok := strings.CutPrefix(subj, "nw.reboot.required."); ok && tok == subject.MustEncode(rebooterNode) {
		return []string{"rebooter-" + tok}
	}
	return nil
}

// consumerIs reports whether a dead letter's consumer is c (detectorConsumer: any partition).
func consumerIs(got, c string) bool {
	if c == detectorConsumer {
		return strings.HasPrefix(got, "detector-p")
	}
	return got == c
}

// originalMatches reports whether a dead letter's original subject is the published one; the
// detector's is DETECT's rewrite, <prefix>.detect.<p>.<kind>.<...>.<node>, with the same node
// token last (and "sample" for sample.node).
func originalMatches(orig, published string) bool {
	if orig == published {
		return true
	}
	rest, ok := strings.CutPrefix(orig, "nw.detect.")
	if !ok {
		return false
	}
	_, tail, _ := strings.Cut(rest, ".")
	return "nw."+tail == strings.Replace(published, "nw.sample.node.", "nw.sample.", 1)
}

var (
	deadMetricRE = regexp.MustCompile(`(?m)^nodewarden_dead_letters_total\{([^}]*)\} (\S+)$`)
	labelRE      = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)
)

// deadCounts sums nodewarden_dead_letters_total of a /metrics text by consumer.
func deadCounts(metrics string) map[string]int {
	out := map[string]int{}
	for _, m := range deadMetricRE.FindAllStringSubmatch(metrics, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		for _, l := range labelRE.FindAllStringSubmatch(m[1], -1) {
			if l[1] == "consumer" {
				out[l[2]] += int(v)
			}
		}
	}
	return out
}

// simContainerSamples counts the container sample messages of simulated nodes in SAMPLES and
// their containers, skipping what does not decode (the bad input lives there too).
func simContainerSamples(js jetstream.JetStream) (msgs, points int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := js.OrderedConsumer(ctx, topology.StreamSamples, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"nw.sample.container.>"}})
	if err != nil {
		return 0, 0, fmt.Errorf("read SAMPLES: %w", err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read SAMPLES: %w", err)
	}
	it, err := c.Messages()
	if err != nil {
		return 0, 0, fmt.Errorf("read SAMPLES: %w", err)
	}
	defer it.Stop()
	for range int(info.NumPending) {
		m, err := it.Next()
		if err != nil {
			return 0, 0, fmt.Errorf("read SAMPLES: %w", err)
		}
		var cs nwv1.ContainerSamples
		if proto.Unmarshal(m.Data(), &cs) != nil || !strings.HasPrefix(cs.GetNode(), "sim-node-") {
			continue
		}
		msgs++
		points += len(cs.GetContainers())
	}
	return msgs, points, nil
}
