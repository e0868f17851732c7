// Package telemetry is kclgo's one home for its OpenTelemetry instruments:
// their names, units, descriptions and attributes, created from a
// MeterProvider the user passes (kcl.WithMeterProvider,
// worker.Config.MeterProvider). Nothing is global: without a provider (nil,
// or the API's no-op one) the constructors return nil, and every method of a
// nil value returns at once, so an uninstrumented run pays a nil check per
// batch and nothing per record.
//
// Names follow OpenTelemetry's conventions: dot-separated namespaces under
// "kcl.", units in UCUM ("s", "ms", "By", "{record}"), no unit or "_total"
// in the name (a Prometheus exporter adds them), error.type only on a
// failed operation. Attributes have bounded cardinality: the shard id, the
// stream, the application, the worker id, the action, an exception or error
// code; never a sequence number or a partition key.
package telemetry

import (
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// ScopeName is the instrumentation scope (the meter's name) of every kclgo
// instrument.
const ScopeName = "github.com/kclgo/kclgo"

// Attribute keys.
const (
	// KeyShard is the shard id, e.g. "shardId-000000000000".
	KeyShard = attribute.Key("kcl.shard.id")
	// KeyStream is the stream's name (the worker sets it; under the daemon
	// pass it with kcl.WithMetricAttributes or as a resource attribute).
	KeyStream = attribute.Key("kcl.stream.name")
	// KeyApplication is the application name, i.e. the lease table.
	KeyApplication = attribute.Key("kcl.application.name")
	// KeyWorker is the native worker's id (its leaseOwner).
	KeyWorker = attribute.Key("kcl.worker.id")
	// KeyAction is the protocol action of a processor method, e.g.
	// "processRecords" (the protocol.Action* names).
	KeyAction = attribute.Key("kcl.action")
	// KeyErrorType is OpenTelemetry's error.type: set only when the
	// operation failed, to the class of the failure.
	KeyErrorType = attribute.Key("error.type")
)

// Values of error.type kclgo sets itself (a checkpoint's refusal carries the
// Java exception's simple name; a Kinesis call's failure its error code).
const (
	// ErrorProcessor: the processor method returned an error.
	ErrorProcessor = "error"
	// ErrorPanic: the processor method panicked.
	ErrorPanic = "panic"
	// ErrorTransport: the checkpoint transport failed (under the daemon,
	// the conversation broke); no checkpoint can be sent any more.
	ErrorTransport = "transport"
	// ErrorOther is OpenTelemetry's fallback for a failure without a known
	// class (here: an exception name or error code kclgo does not know).
	ErrorOther = "_OTHER"
)

// Instrument names. The README's table lists them with their units and
// attributes.
const (
	NameProcessorRecords    = "kcl.processor.records"
	NameProcessorBytes      = "kcl.processor.bytes"
	NameProcessorDuration   = "kcl.processor.duration"
	NameProcessorErrors     = "kcl.processor.errors"
	NameProcessorRetries    = "kcl.processor.retries"
	NameBehindLatest        = "kcl.shard.behind_latest"
	NameCheckpointDuration  = "kcl.checkpoint.duration"
	NameCheckpointFailures  = "kcl.checkpoint.failures"
	NameLeasesHeld          = "kcl.worker.leases.held"
	NameLeasesTaken         = "kcl.worker.leases.taken"
	NameLeasesStolen        = "kcl.worker.leases.stolen"
	NameLeasesLost          = "kcl.worker.leases.lost"
	NameRenewalFailures     = "kcl.worker.lease.renewal.failures"
	NameGetRecordsDuration  = "kcl.worker.getrecords.duration"
	NameGetRecordsThrottles = "kcl.worker.getrecords.throttles"
	NameGetRecordsRecords   = "kcl.worker.getrecords.records"
	// Enhanced fan-out's counterparts of the GetRecords instruments.
	NameSubscribeDuration  = "kcl.worker.subscribetoshard.duration"
	NameSubscribeThrottles = "kcl.worker.subscribetoshard.throttles"
	NameSubscribeRecords   = "kcl.worker.subscribetoshard.records"
)

// durationBuckets are the explicit bucket bounds, in seconds, of the
// duration histograms: 1 ms to 60 s (the SDK's default bounds are meant for
// milliseconds).
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// recordBuckets bound the records-per-call histogram (Kinesis returns at
// most 10,000 records per GetRecords call).
var recordBuckets = []float64{0, 1, 10, 100, 500, 1000, 2500, 5000, 10000}

// meter returns kclgo's meter of mp, or nil when mp is nil or the API's
// no-op provider: then nothing is recorded.
func meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		return nil
	}
	if _, ok := mp.(noop.MeterProvider); ok {
		return nil
	}
	return mp.Meter(ScopeName)
}

// builder creates instruments and keeps the first error (an SDK returns a
// working instrument even then).
type builder struct {
	m    metric.Meter
	errs []error
}

func (b *builder) counter(name, unit, desc string) metric.Int64Counter {
	c, err := b.m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	b.errs = append(b.errs, err)
	return c
}

func (b *builder) gauge(name, unit, desc string) metric.Int64Gauge {
	g, err := b.m.Int64Gauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
	b.errs = append(b.errs, err)
	return g
}

func (b *builder) seconds(name, desc string) metric.Float64Histogram {
	h, err := b.m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc), metric.WithExplicitBucketBoundaries(durationBuckets...))
	b.errs = append(b.errs, err)
	return h
}

func (b *builder) err() error { return errors.Join(b.errs...) }

// behindLatest is the one definition of the lag gauge, shared by the
// processing path (each batch) and the native worker's retrieval (each
// read, also the empty ones that call no processor).
func (b *builder) behindLatest() metric.Int64Gauge {
	return b.gauge(NameBehindLatest, "ms", "How far the shard's reader is behind the newest record: millisBehindLatest of the last read")
}

// attrs joins a base set with more attributes into a measurement option.
func attrs(base []attribute.KeyValue, more ...attribute.KeyValue) metric.MeasurementOption {
	all := make([]attribute.KeyValue, 0, len(base)+len(more))
	all = append(all, base...)
	for _, kv := range more {
		if kv.Value.Type() == attribute.STRING && kv.Value.AsString() == "" {
			continue // an unknown shard: no attribute rather than an empty one
		}
		all = append(all, kv)
	}
	return metric.WithAttributeSet(attribute.NewSet(all...))
}

// seconds converts a duration for a histogram in seconds.
func seconds(d time.Duration) float64 { return d.Seconds() }
