package producer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/internal/telemetry/telemetrytest"
	"github.com/kclgo/kclgo/producer"
)

// The producer's instruments, read through the SDK's ManualReader: records
// put and delivered, Kinesis records, the aggregation ratio, the buffer,
// PutRecords durations, retries by entry error code, and a failed put.
func TestProducerMetrics(t *testing.T) {
	r := telemetrytest.New(t)
	f := newFake(2)
	f.failEntry = func(call, i int) string {
		if call == 0 && i == 0 {
			return "InternalFailure" // retried once
		}
		return ""
	}
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, RetryBaseDelay: time.Millisecond, MeterProvider: r.Provider})
	for i := range 50 {
		require.NoError(t, p.Put(context.Background(), fmt.Sprintf("pk-%d", i), []byte("data")))
	}
	require.NoError(t, p.Flush(context.Background()))
	s := r.Collect(t)
	stream := telemetry.KeyStream.String("s")
	assert.Equal(t, int64(50), s.Sum(telemetry.NameProducerRecordsPut, stream))
	assert.Equal(t, int64(50), s.Sum(telemetry.NameProducerRecordsDelivered, stream))
	assert.Positive(t, s.Sum(telemetry.NameProducerKinesisRecords, stream))
	assert.GreaterOrEqual(t, s.FloatGauge(telemetry.NameProducerAggregation, stream), 1.0)
	buffered, ok := s.Gauge(telemetry.NameProducerBufferedRecords, stream)
	assert.True(t, ok)
	assert.Equal(t, int64(0), buffered)
	calls, _ := s.Count(telemetry.NameProducerPutDuration, stream)
	assert.GreaterOrEqual(t, calls, uint64(2))
	assert.Positive(t, s.Sum(telemetry.NameProducerRecordsRetried, telemetry.KeyErrorType.String("InternalFailure")))
	assert.Equal(t, int64(0), s.Sum(telemetry.NameProducerRecordsFailed))

	// A failed put: every call fails, the record expires.
	f.callErr = func(int) error { return errors.New("injected: the call fails") }
	p2 := newProducer(t, f, producer.Config{Linger: time.Millisecond, RecordTTL: time.Millisecond, RetryBaseDelay: time.Millisecond,
		MeterProvider: r.Provider, OnFailure: func(*producer.FailedRecord) {}})
	require.NoError(t, p2.Put(context.Background(), "k", []byte("v")))
	require.NoError(t, p2.Flush(context.Background()))
	s = r.Collect(t)
	assert.Equal(t, int64(1), s.Sum(telemetry.NameProducerRecordsFailed, telemetry.KeyErrorType.String(telemetry.ErrorExpired)))
	n, _ := s.Count(telemetry.NameProducerPutDuration, telemetry.KeyErrorType.String(telemetry.ErrorOther))
	assert.Positive(t, n, "failed PutRecords calls")
	require.NoError(t, p.Close(context.Background()))
	_ = p2.Close(context.Background())
}

// Without a MeterProvider the producer records nothing and needs no SDK.
func TestProducerNoMetrics(t *testing.T) {
	p := newProducer(t, newFake(1), producer.Config{Linger: time.Millisecond})
	require.NoError(t, p.Put(context.Background(), "k", []byte("v")))
	require.NoError(t, p.Close(context.Background()))
}
