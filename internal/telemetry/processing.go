package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/kclgo/kclgo/protocol"
)

// Processing holds the instruments of the path every runtime shares: the
// processor's methods called by kcl.ActionRunner and the checkpoints of its
// Checkpointer. A nil *Processing records nothing.
type Processing struct {
	records    metric.Int64Counter
	bytes      metric.Int64Counter
	duration   metric.Float64Histogram
	errors     metric.Int64Counter
	retries    metric.Int64Counter
	behind     metric.Int64Gauge
	ckDuration metric.Float64Histogram
	ckFailures metric.Int64Counter
	base       []attribute.KeyValue
}

// NewProcessing creates the processing instruments from mp, with base added
// to every measurement (the stream, application and worker, where the
// runtime knows them). It returns nil when mp is nil or the no-op provider.
// An error (an instrument the provider refused) comes with a Processing
// that still records with the instruments it got.
func NewProcessing(mp metric.MeterProvider, base ...attribute.KeyValue) (*Processing, error) {
	m := meter(mp)
	if m == nil {
		return nil, nil
	}
	b := &builder{m: m}
	p := &Processing{
		records:    b.counter(NameProcessorRecords, "{record}", "Records of the batches the processor finished (acknowledged)"),
		bytes:      b.counter(NameProcessorBytes, "By", "Data bytes of the records the processor finished"),
		duration:   b.seconds(NameProcessorDuration, "Duration of a processor method, retries included; its count with kcl.action=processRecords is the batches"),
		errors:     b.counter(NameProcessorErrors, "{error}", "Failed attempts of a processor method (an error or a panic)"),
		retries:    b.counter(NameProcessorRetries, "{retry}", "Attempts of a processor method made again after a failure"),
		behind:     b.behindLatest(),
		ckDuration: b.seconds(NameCheckpointDuration, "Duration of a checkpoint call, retries included; its count is the checkpoints"),
		ckFailures: b.counter(NameCheckpointFailures, "{failure}", "Checkpoint attempts refused, by the Java exception's name (retried ones included)"),
		base:       append([]attribute.KeyValue(nil), base...),
	}
	return p, b.err()
}

// Shard returns the instruments bound to one shard ("" before the shard is
// known: no shard attribute). A nil Processing returns a nil Shard.
func (p *Processing) Shard(id string) *Shard {
	if p == nil {
		return nil
	}
	s := &Shard{p: p, id: KeyShard.String(id), opts: map[optKey]opts{}}
	s.plain = s.with("", "")
	return s
}

// Shard records the processing of one shard. Its methods may be called from
// several goroutines (a checkpoint from the processor's own goroutine while
// the runner records an action). A nil *Shard records nothing.
type Shard struct {
	p     *Processing
	id    attribute.KeyValue
	plain opts // base and shard only

	mu   sync.Mutex
	opts map[optKey]opts // attribute sets by action and error type, built once
}

type optKey struct{ action, errType string }

// opts is one attribute set as the options of both kinds of measurement,
// kept so that a measurement allocates nothing.
type opts struct {
	add []metric.AddOption
	rec []metric.RecordOption
	obs []metric.ObserveOption
}

func newOpts(o metric.MeasurementOption) opts {
	return opts{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}, obs: []metric.ObserveOption{o}}
}

// with returns the options of the shard's set plus an action and an error
// type (each omitted when "").
func (s *Shard) with(action, errType string) opts {
	k := optKey{action, errType}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.opts[k]; ok {
		return o
	}
	more := []attribute.KeyValue{s.id}
	if action != "" {
		more = append(more, KeyAction.String(action))
	}
	if errType != "" {
		more = append(more, KeyErrorType.String(errType))
	}
	o := newOpts(attrs(s.p.base, more...))
	s.opts[k] = o
	return o
}

// Action records one call of a processor method (all its attempts) that
// took d; errType is "" when it succeeded, else ErrorProcessor, ErrorPanic
// or ErrorTransport.
func (s *Shard) Action(ctx context.Context, action string, d time.Duration, errType string) {
	if s == nil {
		return
	}
	s.p.duration.Record(ctx, seconds(d), s.with(action, errType).rec...)
}

// Processed counts the records and data bytes of a batch the processor
// finished.
func (s *Shard) Processed(ctx context.Context, records, bytes int64) {
	if s == nil {
		return
	}
	s.p.records.Add(ctx, records, s.plain.add...)
	s.p.bytes.Add(ctx, bytes, s.plain.add...)
}

// ProcessorError counts one failed attempt of a processor method; errType
// is ErrorProcessor or ErrorPanic.
func (s *Shard) ProcessorError(ctx context.Context, action, errType string) {
	if s == nil {
		return
	}
	s.p.errors.Add(ctx, 1, s.with(action, errType).add...)
}

// Retry counts one more attempt of a processor method after a failure.
func (s *Shard) Retry(ctx context.Context, action string) {
	if s == nil {
		return
	}
	s.p.retries.Add(ctx, 1, s.with(action, "").add...)
}

// BehindLatest records the shard's millisBehindLatest; a negative value
// (unknown) is not recorded.
func (s *Shard) BehindLatest(ctx context.Context, ms int64) {
	if s == nil || ms < 0 {
		return
	}
	s.p.behind.Record(ctx, ms, s.plain.rec...)
}

// Checkpoint records one checkpoint call (all its attempts) that took d;
// refusal is "" when it was stored, else the Java exception's name of the
// last refusal, or ErrorTransport.
func (s *Shard) Checkpoint(ctx context.Context, d time.Duration, refusal string) {
	if s == nil {
		return
	}
	s.p.ckDuration.Record(ctx, seconds(d), s.with("", exceptionType(refusal)).rec...)
}

// CheckpointRefused counts one refused checkpoint attempt by the Java
// exception's simple name.
func (s *Shard) CheckpointRefused(ctx context.Context, exception string) {
	if s == nil {
		return
	}
	s.p.ckFailures.Add(ctx, 1, s.with("", exceptionType(exception)).add...)
}

// exceptionType bounds a checkpoint exception's name to the known ones:
// the daemon may report any name, and an attribute must not take unbounded
// values.
func exceptionType(name string) string {
	switch name {
	case "", ErrorTransport, protocol.ExceptionThrottling, protocol.ExceptionShutdown, protocol.ExceptionInvalidState,
		protocol.ExceptionDependency, protocol.ExceptionIllegalArgument:
		return name
	}
	return ErrorOther
}
