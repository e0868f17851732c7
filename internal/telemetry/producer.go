package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Producer instrument names (package producer; see Producer for where each
// is recorded).
const (
	NameProducerRecordsPut       = "kcl.producer.user_records.put"
	NameProducerRecordsDelivered = "kcl.producer.user_records.delivered"
	NameProducerKinesisRecords   = "kcl.producer.kinesis_records.sent"
	NameProducerAggregation      = "kcl.producer.aggregation.ratio"
	NameProducerRecordsFailed    = "kcl.producer.user_records.failed"
	NameProducerRecordsRetried   = "kcl.producer.user_records.retried"
	NameProducerBufferedRecords  = "kcl.producer.buffered.records"
	NameProducerBufferedBytes    = "kcl.producer.buffered.bytes"
	NameProducerPutDuration      = "kcl.producer.putrecords.duration"
)

// Error classes of a producer's record besides the AWS error codes.
const (
	// ErrorExpired: the record was not delivered within its TTL.
	ErrorExpired = "expired"
	// ErrorClosed: the producer was closed before the record was delivered.
	ErrorClosed = "closed"
)

// ProducerStats is what the producer's counters say now: the observable
// instruments read it at each collection, so Put pays nothing for them.
type ProducerStats struct {
	// RecordsPut counts user records accepted by Put.
	RecordsPut int64
	// RecordsDelivered counts user records Kinesis accepted.
	RecordsDelivered int64
	// KinesisRecords counts the PutRecords entries (aggregates or plain
	// records) Kinesis accepted.
	KinesisRecords int64
	// BufferedRecords and BufferedBytes are Put and not yet settled.
	BufferedRecords, BufferedBytes int64
}

// Producer holds a KPL-compatible producer's instruments. The counters the
// producer already keeps (records put, delivered, Kinesis records, the
// buffer) are observed at collection time from a stats function; the
// failures and retries by error code and the PutRecords durations are
// recorded as they happen. A nil *Producer records nothing.
type Producer struct {
	failed   metric.Int64Counter
	retried  metric.Int64Counter
	duration metric.Float64Histogram
	reg      metric.Registration
	base     []attribute.KeyValue
	plain    opts

	mu     sync.Mutex
	byCode map[string]opts
}

// NewProducer creates the producer's instruments from mp, with base (the
// stream) on every measurement, observing stats at each collection. It
// returns nil when mp is nil or the no-op provider. Call Close when the
// producer is closed, so that its callback is unregistered.
func NewProducer(mp metric.MeterProvider, stats func() ProducerStats, base ...attribute.KeyValue) (*Producer, error) {
	m := meter(mp)
	if m == nil {
		return nil, nil
	}
	b := &builder{m: m}
	p := &Producer{
		failed:   b.counter(NameProducerRecordsFailed, "{record}", "User records reported failed, by error code (an AWS code, expired or closed)"),
		retried:  b.counter(NameProducerRecordsRetried, "{record}", "User records sent again after a failed entry or call, by error code"),
		duration: b.seconds(NameProducerPutDuration, "Duration of a PutRecords call; its count is the calls"),
		base:     append([]attribute.KeyValue(nil), base...),
		byCode:   map[string]opts{},
	}
	p.plain = newOpts(attrs(p.base))
	obs := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		b.errs = append(b.errs, err)
		return c
	}
	put := obs(NameProducerRecordsPut, "{record}", "User records accepted by Put")
	delivered := obs(NameProducerRecordsDelivered, "{record}", "User records Kinesis accepted")
	sent := obs(NameProducerKinesisRecords, "{record}", "Kinesis records (KPL aggregates or plain records) Kinesis accepted")
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		b.errs = append(b.errs, err)
		return g
	}
	bufRecs := gauge(NameProducerBufferedRecords, "{record}", "User records Put and not yet delivered or failed")
	bufBytes := gauge(NameProducerBufferedBytes, "By", "Bytes (data and partition keys) Put and not yet delivered or failed")
	ratio, err := m.Float64ObservableGauge(NameProducerAggregation, metric.WithUnit("1"),
		metric.WithDescription("User records delivered per Kinesis record since the producer started (1: no aggregation)"))
	b.errs = append(b.errs, err)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := stats()
		o.ObserveInt64(put, s.RecordsPut, p.plain.obs...)
		o.ObserveInt64(delivered, s.RecordsDelivered, p.plain.obs...)
		o.ObserveInt64(sent, s.KinesisRecords, p.plain.obs...)
		o.ObserveInt64(bufRecs, s.BufferedRecords, p.plain.obs...)
		o.ObserveInt64(bufBytes, s.BufferedBytes, p.plain.obs...)
		if s.KinesisRecords > 0 {
			o.ObserveFloat64(ratio, float64(s.RecordsDelivered)/float64(s.KinesisRecords), p.plain.obs...)
		}
		return nil
	}, put, delivered, sent, bufRecs, bufBytes, ratio)
	b.errs = append(b.errs, err)
	p.reg = reg
	return p, b.err()
}

func (p *Producer) withCode(code string) opts {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.byCode[code]
	if !ok {
		o = newOpts(attrs(p.base, KeyErrorType.String(code)))
		p.byCode[code] = o
	}
	return o
}

// PutRecords records one PutRecords call that took d; err is the call's
// error (nil when the call succeeded, whatever its entries' results).
func (p *Producer) PutRecords(ctx context.Context, d time.Duration, err error) {
	if p == nil {
		return
	}
	o := p.plain
	if err != nil {
		o = p.withCode(ErrorCode(err))
	}
	p.duration.Record(ctx, seconds(d), o.rec...)
}

// Retried counts n user records sent again after a failure with code (an
// entry's ErrorCode, or the call's ErrorCode).
func (p *Producer) Retried(ctx context.Context, n int, code string) {
	if p == nil || n == 0 {
		return
	}
	p.retried.Add(ctx, int64(n), p.withCode(code).add...)
}

// Failed counts n user records reported failed with code (an AWS error
// code, ErrorExpired or ErrorClosed).
func (p *Producer) Failed(ctx context.Context, n int, code string) {
	if p == nil || n == 0 {
		return
	}
	p.failed.Add(ctx, int64(n), p.withCode(code).add...)
}

// Close unregisters the observing callback: a closed producer's counters
// are no longer reported.
func (p *Producer) Close() error {
	if p == nil || p.reg == nil {
		return nil
	}
	return p.reg.Unregister()
}
