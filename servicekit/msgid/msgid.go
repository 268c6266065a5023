// Package msgid builds the Nats-Msg-Id of every message kind from the message's identity, in one
// place, so the collector, the simulator and anything that republishes agree: JetStream stores a
// retried publish once within the duplicate window, and consumers deduplicate by the same
// identity beyond it. Sequences of samples and health reports restart with the publishing
// process, so its start time (Unix nanoseconds) is part of their identity; a log line's stream id
// plays that part for logs, and a reboot request's id is its own.
package msgid

import (
	"strconv"
	"time"
)

// NodeSample is "sample.node:<node>:<start>:<seq>".
func NodeSample(node string, start time.Time, seq uint64) string {
	return build("sample.node:", node, "", start.UnixNano(), seq)
}

// ContainerSamples is "sample.container:<node>:<start>:<seq>".
func ContainerSamples(node string, start time.Time, seq uint64) string {
	return build("sample.container:", node, "", start.UnixNano(), seq)
}

// Health is "health:<node>:<component>:<start>:<seq>".
func Health(node, component string, start time.Time, seq uint64) string {
	return build("health:", node, component, start.UnixNano(), seq)
}

// LogBatch is "log:<node>:<source>:<stream id>:<first seq>".
func LogBatch(node, source, streamID string, firstSeq uint64) string {
	var a [160]byte
	b := append(a[:0], "log:"...)
	b = append(append(b, node...), ':')
	b = append(append(b, source...), ':')
	b = append(append(b, streamID...), ':')
	return string(strconv.AppendUint(b, firstSeq, 10))
}

// RebootRequired is the request id itself: merging the same request is the rebooter's job.
func RebootRequired(requestID string) string { return requestID }

// RebootStatus is "reboot.status:<node>:<request id>:<start>:<seq>": the rebooter's start time
// keeps a restarted rebooter's statuses from being taken for duplicates of its last life's.
func RebootStatus(node, requestID string, start time.Time, seq uint64) string {
	return build("reboot.status:", node, requestID, start.UnixNano(), seq)
}

func build(kind, node, component string, start int64, seq uint64) string {
	var a [160]byte
	b := append(a[:0], kind...)
	b = append(append(b, node...), ':')
	if component != "" {
		b = append(append(b, component...), ':')
	}
	b = append(strconv.AppendInt(b, start, 10), ':')
	return string(strconv.AppendUint(b, seq, 10))
}
