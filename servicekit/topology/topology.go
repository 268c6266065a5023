// Package topology declares nodewarden's JetStream streams and KV buckets and owns their
// provisioning: Provision creates or updates them (run by `nodewarden provision` with an admin
// user), Check verifies at a service's start that what it uses exists with compatible settings,
// so service users need no stream-admin rights. Incompatible existing settings are an error that
// names the stream and the setting, never a silent change.
package topology

import (
	"flag"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nodewarden/nodewarden/servicekit/config"
	"github.com/nodewarden/nodewarden/servicekit/subject"
)

// Stream names.
const (
	StreamSamples = "SAMPLES"
	StreamLogs    = "LOGS"
	StreamEvents  = "EVENTS"
	StreamReboot  = "REBOOT"
	StreamDead    = "DEAD"
	// StreamDetect is the detector's input: LOGS, health reports and node samples sourced into
	// one stream with the partition of their node in the subject (see DetectSubject), so each
	// detector replica consumes only the partitions it holds, every message of a node in order.
	StreamDetect = "DETECT"
)

// KV bucket names.
const (
	BucketConditions         = "NW_CONDITIONS"
	BucketRebootLock         = "NW_REBOOT_LOCK"
	BucketRebootRequests     = "NW_REBOOT_REQUESTS"
	BucketDetectorPartitions = "NW_DETECTOR_PARTITIONS"
	BucketSinkPartitions     = "NW_SINK_PARTITIONS"
	BucketSlackSent          = "NW_SLACK_SENT"
)

// Settings are the provisioning knobs, from `nodewarden provision` flags.
type Settings struct {
	Prefix          string
	Replicas        int
	Storage         string // "file" or "memory"
	SamplesMaxAge   time.Duration
	LogsMaxAge      time.Duration
	EventsMaxAge    time.Duration
	RebootMaxAge    time.Duration
	DeadMaxAge      time.Duration
	MaxBytes        int64 // per stream; -1 = unlimited
	DuplicateWindow time.Duration
	SlackSentTTL    time.Duration
	// DetectorPartitions is P, the fixed number of partitions the detector's input is split
	// into by node; changing it needs DETECT deleted and provisioned again. It bounds the
	// detector replicas that share work. Each partition is a durable consumer whose ack state
	// JetStream rewrites as a file up to 10 times a second, and a filtered reader of DETECT
	// (and of SAMPLES for the sink's Prometheus feed): in a minute of 10,000 simulated nodes the
	// NATS server spent 35.5 CPU-seconds with 64 partitions and 30.3 with 16.
	DetectorPartitions int
	DetectMaxAge       time.Duration
}

// DefaultSettings are DESIGN.md's limits for a single server.
func DefaultSettings() Settings {
	return Settings{
		Prefix:          subject.DefaultPrefix,
		Replicas:        1,
		Storage:         "file",
		SamplesMaxAge:   time.Hour,
		LogsMaxAge:      24 * time.Hour,
		EventsMaxAge:    30 * 24 * time.Hour,
		RebootMaxAge:    7 * 24 * time.Hour,
		DeadMaxAge:      7 * 24 * time.Hour,
		MaxBytes:        -1,
		DuplicateWindow: 2 * time.Minute,
		SlackSentTTL:    24 * time.Hour,
		// 64 partitions spread a cluster of any size over up to 64 detector replicas.
		DetectorPartitions: 16,
		DetectMaxAge:       time.Hour,
	}
}

// AddFlags registers the provisioning flags (the subject prefix is a common flag, not here).
func (s *Settings) AddFlags(fs *flag.FlagSet) {
	d := DefaultSettings()
	fs.IntVar(&s.Replicas, "replicas", d.Replicas, "replicas of every stream and bucket (1, or 3 for a 3-node cluster)")
	fs.StringVar(&s.Storage, "storage", d.Storage, "JetStream storage of streams and buckets: file or memory")
	fs.DurationVar(&s.SamplesMaxAge, "samples-max-age", d.SamplesMaxAge, "how long SAMPLES keeps samples and health reports")
	fs.DurationVar(&s.LogsMaxAge, "logs-max-age", d.LogsMaxAge, "how long LOGS keeps log batches")
	fs.DurationVar(&s.EventsMaxAge, "events-max-age", d.EventsMaxAge, "how long EVENTS keeps problems and reboot status")
	fs.DurationVar(&s.RebootMaxAge, "reboot-max-age", d.RebootMaxAge, "how long REBOOT keeps reboot requests")
	fs.DurationVar(&s.DeadMaxAge, "dead-max-age", d.DeadMaxAge, "how long DEAD keeps dead letters for inspection and replay")
	fs.Int64Var(&s.MaxBytes, "stream-max-bytes", d.MaxBytes, "size limit of each stream in bytes; -1 = unlimited")
	fs.DurationVar(&s.DuplicateWindow, "duplicate-window", d.DuplicateWindow, "window in which a repeated Nats-Msg-Id is stored once")
	fs.DurationVar(&s.SlackSentTTL, "slack-sent-ttl", d.SlackSentTTL, "how long NW_SLACK_SENT remembers a posted message")
	fs.IntVar(&s.DetectorPartitions, "detector-partitions", d.DetectorPartitions, "partitions of the detector's input (fixed once provisioned)")
	fs.DurationVar(&s.DetectMaxAge, "detect-max-age", d.DetectMaxAge, "how long DETECT keeps the detector's input")
}

// Validate checks the settings.
func (s Settings) Validate() error {
	if err := subject.ValidatePrefix(s.Prefix); err != nil {
		return config.Invalid("subject-prefix", s.Prefix, "%v", err)
	}
	if s.Replicas < 1 || s.Replicas > 5 {
		return config.Invalid("replicas", s.Replicas, "want 1 to 5")
	}
	if err := config.OneOf("storage", s.Storage, "file", "memory"); err != nil {
		return err
	}
	for name, d := range map[string]time.Duration{"samples-max-age": s.SamplesMaxAge, "logs-max-age": s.LogsMaxAge,
		"events-max-age": s.EventsMaxAge, "reboot-max-age": s.RebootMaxAge, "dead-max-age": s.DeadMaxAge,
		"duplicate-window": s.DuplicateWindow, "slack-sent-ttl": s.SlackSentTTL, "detect-max-age": s.DetectMaxAge} {
		if d <= 0 {
			return config.Invalid(name, d, "must be positive")
		}
		if name != "duplicate-window" && name != "slack-sent-ttl" && d < s.DuplicateWindow {
			return config.Invalid(name, d, "must be at least --duplicate-window (%s)", s.DuplicateWindow)
		}
	}
	if s.DetectorPartitions < 1 || s.DetectorPartitions > 1024 {
		return config.Invalid("detector-partitions", s.DetectorPartitions, "want 1 to 1024")
	}
	if s.MaxBytes == 0 || s.MaxBytes < -1 {
		return config.Invalid("stream-max-bytes", s.MaxBytes, "want -1 (unlimited) or a positive size")
	}
	return nil
}

func (s Settings) storage() jetstream.StorageType {
	if s.Storage == "memory" {
		return jetstream.MemoryStorage
	}
	return jetstream.FileStorage
}

// Streams are the stream configurations these settings provision.
func (s Settings) Streams() []jetstream.StreamConfig {
	sp := subject.Space{Prefix: s.Prefix}
	mk := func(name, desc string, maxAge time.Duration, subjects ...string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name:        name,
			Description: desc,
			Subjects:    subjects,
			Retention:   jetstream.LimitsPolicy,
			Storage:     s.storage(),
			Replicas:    s.Replicas,
			MaxAge:      maxAge,
			MaxBytes:    s.MaxBytes,
			MaxMsgs:     -1,
			Discard:     jetstream.DiscardOld,
			Duplicates:  s.DuplicateWindow,
		}
	}
	return []jetstream.StreamConfig{
		mk(StreamSamples, "nodewarden node and container samples, health reports", s.SamplesMaxAge, sp.All("sample"), sp.All("health")),
		mk(StreamLogs, "nodewarden log batches", s.LogsMaxAge, sp.All("log")),
		mk(StreamEvents, "nodewarden problems and reboot status", s.EventsMaxAge, sp.All("problem"), sp.All("reboot.status")),
		mk(StreamReboot, "nodewarden reboot requests", s.RebootMaxAge, sp.All("reboot.required")),
		mk(StreamDead, "nodewarden dead letters: messages no consumer could process", s.DeadMaxAge, sp.All("dead")),
		s.detectStream(mk),
	}
}

// detectStream sources the detector's input into DETECT, each subject rewritten to carry its
// node's partition: <prefix>.detect.<p>.log.<source>.<node>, <prefix>.detect.<p>.health.<node>,
// <prefix>.detect.<p>.sample.<node>. The server's partition() hashes the node token, so every
// kind of message of one node lands in the same partition.
func (s Settings) detectStream(mk func(string, string, time.Duration, ...string) jetstream.StreamConfig) jetstream.StreamConfig {
	sp := subject.Space{Prefix: s.Prefix}
	part := func(wildcard int) string {
		return "{{partition(" + strconv.Itoa(s.DetectorPartitions) + "," + strconv.Itoa(wildcard) + ")}}"
	}
	c := mk(StreamDetect, "nodewarden detector input, partitioned by node", s.DetectMaxAge)
	c.Subjects = nil
	c.Sources = []*jetstream.StreamSource{
		{Name: StreamLogs, SubjectTransforms: []jetstream.SubjectTransformConfig{
			{Source: sp.Join("log", "*", "*"), Destination: sp.Join("detect", part(2), "log", "{{wildcard(1)}}", "{{wildcard(2)}}")}}},
		{Name: StreamSamples, SubjectTransforms: []jetstream.SubjectTransformConfig{
			{Source: sp.Join("health", "*"), Destination: sp.Join("detect", part(1), "health", "{{wildcard(1)}}")},
			{Source: sp.Join("sample", "node", "*"), Destination: sp.Join("detect", part(1), "sample", "{{wildcard(1)}}")}}},
	}
	return c
}

// DetectSubjects is the filter of one partition of DETECT.
func DetectSubjects(prefix string, partition int) string {
	return subject.Space{Prefix: prefix}.All("detect." + strconv.Itoa(partition))
}

// Buckets are the KV bucket configurations these settings provision.
func (s Settings) Buckets() []jetstream.KeyValueConfig {
	mk := func(name, desc string, history uint8, ttl time.Duration) jetstream.KeyValueConfig {
		return jetstream.KeyValueConfig{Bucket: name, Description: desc, History: history, TTL: ttl,
			Storage: s.storage(), Replicas: s.Replicas}
	}
	return []jetstream.KeyValueConfig{
		mk(BucketConditions, "node + condition -> current condition state", 1, 0),
		mk(BucketRebootLock, "reboot lock slots, taken by compare-and-set", 1, 0),
		mk(BucketRebootRequests, "node -> pending reboot request", 1, 0),
		mk(BucketDetectorPartitions, "detector partition leases", 1, 0),
		mk(BucketSinkPartitions, "sink partition leases: which replica exposes which nodes' metrics", 1, 0),
		mk(BucketSlackSent, "ids of messages already posted to Slack", 1, s.SlackSentTTL),
	}
}
