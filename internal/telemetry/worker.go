package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Worker holds the native worker's instruments: leases and retrieval. A nil
// *Worker records nothing.
type Worker struct {
	held        metric.Int64Gauge
	taken       metric.Int64Counter
	stolen      metric.Int64Counter
	lost        metric.Int64Counter
	renewFailed metric.Int64Counter
	grDuration  metric.Float64Histogram
	grThrottles metric.Int64Counter
	grRecords   metric.Int64Histogram
	subDuration metric.Float64Histogram
	subThrottle metric.Int64Counter
	subRecords  metric.Int64Histogram
	behind      metric.Int64Gauge
	base        []attribute.KeyValue
	plain       opts
}

// NewWorker creates the worker's instruments from mp, with base (the
// stream, application and worker id) on every measurement. It returns nil
// when mp is nil or the no-op provider; see [NewProcessing] for the error.
func NewWorker(mp metric.MeterProvider, base ...attribute.KeyValue) (*Worker, error) {
	m := meter(mp)
	if m == nil {
		return nil, nil
	}
	b := &builder{m: m}
	w := &Worker{
		held:        b.gauge(NameLeasesHeld, "{lease}", "Leases this worker holds"),
		taken:       b.counter(NameLeasesTaken, "{lease}", "Leases taken that were free or expired"),
		stolen:      b.counter(NameLeasesStolen, "{lease}", "Leases taken from a live, more loaded worker"),
		lost:        b.counter(NameLeasesLost, "{lease}", "Leases lost: taken by another worker, or not renewed within the failover time"),
		renewFailed: b.counter(NameRenewalFailures, "{failure}", "Lease renewals that failed for another reason than a new owner (throttling, DynamoDB unreachable)"),
		grDuration:  b.seconds(NameGetRecordsDuration, "Duration of a GetRecords call; its count is the calls"),
		grThrottles: b.counter(NameGetRecordsThrottles, "{throttle}", "GetRecords calls throttled"),
		subDuration: b.seconds(NameSubscribeDuration, "Duration of a SubscribeToShard call, until its stream opened or it failed; its count is the calls"),
		subThrottle: b.counter(NameSubscribeThrottles, "{throttle}", "SubscribeToShard calls throttled"),
		behind:      b.behindLatest(),
		base:        append([]attribute.KeyValue(nil), base...),
	}
	var err error
	w.grRecords, err = m.Int64Histogram(NameGetRecordsRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Kinesis records (aggregates counted once) returned by a successful GetRecords call"),
		metric.WithExplicitBucketBoundaries(recordBuckets...))
	b.errs = append(b.errs, err)
	w.subRecords, err = m.Int64Histogram(NameSubscribeRecords, metric.WithUnit("{record}"),
		metric.WithDescription("Kinesis records (aggregates counted once) in a SubscribeToShard event"),
		metric.WithExplicitBucketBoundaries(recordBuckets...))
	b.errs = append(b.errs, err)
	w.plain = newOpts(attrs(w.base))
	return w, b.err()
}

// LeasesHeld records how many leases the worker holds now.
func (w *Worker) LeasesHeld(ctx context.Context, n int) {
	if w == nil {
		return
	}
	w.held.Record(ctx, int64(n), w.plain.rec...)
}

// Shard returns the instruments bound to one shard. A nil Worker returns a
// nil WorkerShard.
func (w *Worker) Shard(id string) *WorkerShard {
	if w == nil {
		return nil
	}
	kv := KeyShard.String(id)
	return &WorkerShard{w: w, id: kv, plain: newOpts(attrs(w.base, kv)), failed: map[string]opts{}}
}

// WorkerShard records the worker's work on one lease: its lease events and
// its reads. A nil *WorkerShard records nothing. Lease events come from the
// worker's loop and reads from the shard's consumer: its methods may be
// called from several goroutines, except GetRecords (the consumer's only).
type WorkerShard struct {
	w      *Worker
	id     attribute.KeyValue
	plain  opts
	failed map[string]opts // GetRecords by error code; the consumer's goroutine only
}

// LeaseTaken counts the lease taken; stolen when it was taken from a live
// worker.
func (s *WorkerShard) LeaseTaken(ctx context.Context, stolen bool) {
	if s == nil {
		return
	}
	if stolen {
		s.w.stolen.Add(ctx, 1, s.plain.add...)
	} else {
		s.w.taken.Add(ctx, 1, s.plain.add...)
	}
}

// LeaseLost counts the lease lost.
func (s *WorkerShard) LeaseLost(ctx context.Context) {
	if s == nil {
		return
	}
	s.w.lost.Add(ctx, 1, s.plain.add...)
}

// RenewalFailed counts a renewal that failed without a new owner.
func (s *WorkerShard) RenewalFailed(ctx context.Context) {
	if s == nil {
		return
	}
	s.w.renewFailed.Add(ctx, 1, s.plain.add...)
}

// GetRecords records one GetRecords call that took d: the records it
// returned, or its failure (err, throttled when it was a throttle).
func (s *WorkerShard) GetRecords(ctx context.Context, d time.Duration, records int, err error, throttled bool) {
	if s == nil {
		return
	}
	if err == nil {
		s.w.grDuration.Record(ctx, seconds(d), s.plain.rec...)
		s.w.grRecords.Record(ctx, int64(records), s.plain.rec...)
		return
	}
	s.w.grDuration.Record(ctx, seconds(d), s.failedOpts(err).rec...)
	if throttled {
		s.w.grThrottles.Add(ctx, 1, s.plain.add...)
	}
}

// BehindLatest records the shard's millisBehindLatest as a read returned
// it (also a read with no records, for which no processor is called).
func (s *WorkerShard) BehindLatest(ctx context.Context, ms *int64) {
	if s == nil || ms == nil || *ms < 0 {
		return
	}
	s.w.behind.Record(ctx, *ms, s.plain.rec...)
}

// ErrorCode returns the AWS error code of err (e.g.
// "ProvisionedThroughputExceededException"), or ErrorOther when err is no
// API error: AWS's codes are a bounded set, messages are not.
func ErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "" {
		return ae.ErrorCode()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	return ErrorOther
}

// Subscribe records one SubscribeToShard call that took d (until its
// stream opened, or it failed with err).
func (s *WorkerShard) Subscribe(ctx context.Context, d time.Duration, err error, throttled bool) {
	if s == nil {
		return
	}
	if err == nil {
		s.w.subDuration.Record(ctx, seconds(d), s.plain.rec...)
		return
	}
	s.w.subDuration.Record(ctx, seconds(d), s.failedOpts(err).rec...)
	if throttled {
		s.w.subThrottle.Add(ctx, 1, s.plain.add...)
	}
}

// Event records one SubscribeToShard event with records Kinesis records.
func (s *WorkerShard) Event(ctx context.Context, records int) {
	if s == nil {
		return
	}
	s.w.subRecords.Record(ctx, int64(records), s.plain.rec...)
}

// failedOpts returns the options of a failed call's measurement: the
// shard's attributes and err's error.type, made once per code.
func (s *WorkerShard) failedOpts(err error) opts {
	code := ErrorCode(err)
	o, ok := s.failed[code]
	if !ok {
		o = newOpts(attrs(s.w.base, s.id, KeyErrorType.String(code)))
		s.failed[code] = o
	}
	return o
}
