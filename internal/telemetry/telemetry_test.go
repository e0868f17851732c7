package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/internal/telemetry/telemetrytest"
)

func TestNoProviderRecordsNothing(t *testing.T) {
	ctx := context.Background()
	for _, mp := range []any{nil, noop.NewMeterProvider()} {
		var p *telemetry.Processing
		var w *telemetry.Worker
		var err error
		if mp == nil {
			p, err = telemetry.NewProcessing(nil)
			require.NoError(t, err)
			w, err = telemetry.NewWorker(nil)
		} else {
			p, err = telemetry.NewProcessing(mp.(noop.MeterProvider))
			require.NoError(t, err)
			w, err = telemetry.NewWorker(mp.(noop.MeterProvider))
		}
		require.NoError(t, err)
		assert.Nil(t, p)
		assert.Nil(t, w)
		// Every method of the nil values is a no-op.
		s := p.Shard("x")
		assert.Nil(t, s)
		s.Action(ctx, "processRecords", time.Second, "")
		s.Processed(ctx, 1, 1)
		s.ProcessorError(ctx, "processRecords", telemetry.ErrorPanic)
		s.Retry(ctx, "processRecords")
		s.BehindLatest(ctx, 1)
		s.Checkpoint(ctx, time.Second, "")
		s.CheckpointRefused(ctx, "ThrottlingException")
		ws := w.Shard("x")
		assert.Nil(t, ws)
		w.LeasesHeld(ctx, 1)
		ws.LeaseTaken(ctx, true)
		ws.LeaseLost(ctx)
		ws.RenewalFailed(ctx)
		ws.GetRecords(ctx, time.Second, 1, nil, false)
		ws.BehindLatest(ctx, aws.Int64(1))
		pr, err := telemetry.NewProducer(nil, func() telemetry.ProducerStats { t.Fatal("observed"); return telemetry.ProducerStats{} })
		require.NoError(t, err)
		assert.Nil(t, pr)
		pr.PutRecords(ctx, time.Second, nil)
		pr.Retried(ctx, 1, "x")
		pr.Failed(ctx, 1, "x")
		assert.NoError(t, pr.Close())
	}
}

func TestWorkerInstrumentsAndErrorCodes(t *testing.T) {
	ctx := context.Background()
	m := telemetrytest.New(t)
	w, err := telemetry.NewWorker(m.Provider, telemetry.KeyWorker.String("w1"))
	require.NoError(t, err)
	s := w.Shard("shardId-0")
	s.GetRecords(ctx, 10*time.Millisecond, 7, nil, false)
	s.GetRecords(ctx, time.Millisecond, 0, &ktypes.ProvisionedThroughputExceededException{Message: aws.String("slow")}, true)
	s.GetRecords(ctx, time.Millisecond, 0, errors.New("connection reset"), false)
	s.BehindLatest(ctx, aws.Int64(-1)) // unknown: not recorded
	snap := m.Collect(t)
	_, ok := snap.Gauge(telemetry.NameBehindLatest)
	assert.False(t, ok)
	n, _ := snap.Count(telemetry.NameGetRecordsDuration, telemetry.KeyErrorType.String("ProvisionedThroughputExceededException"))
	assert.Equal(t, uint64(1), n)
	n, _ = snap.Count(telemetry.NameGetRecordsDuration, telemetry.KeyErrorType.String(telemetry.ErrorOther))
	assert.Equal(t, uint64(1), n, "a message never becomes an attribute")
	n, sum := snap.Count(telemetry.NameGetRecordsRecords, telemetry.KeyShard.String("shardId-0"), telemetry.KeyWorker.String("w1"))
	assert.Equal(t, uint64(1), n)
	assert.Equal(t, 7.0, sum)
	assert.Equal(t, int64(1), snap.Sum(telemetry.NameGetRecordsThrottles))
	assert.Equal(t, "canceled", telemetry.ErrorCode(context.Canceled))
}

func TestProducerInstruments(t *testing.T) {
	ctx := context.Background()
	m := telemetrytest.New(t)
	stats := telemetry.ProducerStats{RecordsPut: 100, RecordsDelivered: 90, KinesisRecords: 9, BufferedRecords: 10, BufferedBytes: 1234}
	p, err := telemetry.NewProducer(m.Provider, func() telemetry.ProducerStats { return stats }, telemetry.KeyStream.String("orders"))
	require.NoError(t, err)
	p.PutRecords(ctx, 20*time.Millisecond, nil)
	p.PutRecords(ctx, time.Millisecond, &ktypes.ProvisionedThroughputExceededException{Message: aws.String("slow")})
	p.Retried(ctx, 5, "ProvisionedThroughputExceededException")
	p.Failed(ctx, 2, telemetry.ErrorExpired)
	s := m.Collect(t)
	stream := telemetry.KeyStream.String("orders")
	assert.Equal(t, int64(100), s.Sum(telemetry.NameProducerRecordsPut, stream))
	assert.Equal(t, int64(90), s.Sum(telemetry.NameProducerRecordsDelivered, stream))
	assert.Equal(t, int64(9), s.Sum(telemetry.NameProducerKinesisRecords, stream))
	v, ok := s.Gauge(telemetry.NameProducerBufferedBytes, stream)
	assert.True(t, ok)
	assert.Equal(t, int64(1234), v)
	assert.Equal(t, "By", s.Unit(telemetry.NameProducerBufferedBytes))
	assert.Equal(t, 10.0, s.FloatGauge(telemetry.NameProducerAggregation, stream), "90 user records in 9 Kinesis records")
	assert.Equal(t, int64(5), s.Sum(telemetry.NameProducerRecordsRetried, telemetry.KeyErrorType.String("ProvisionedThroughputExceededException")))
	assert.Equal(t, int64(2), s.Sum(telemetry.NameProducerRecordsFailed, telemetry.KeyErrorType.String(telemetry.ErrorExpired)))
	n, _ := s.Count(telemetry.NameProducerPutDuration, telemetry.KeyErrorType.String(telemetrytest.Absent))
	assert.Equal(t, uint64(1), n)
	n, _ = s.Count(telemetry.NameProducerPutDuration, telemetry.KeyErrorType.String("ProvisionedThroughputExceededException"))
	assert.Equal(t, uint64(1), n)
	require.NoError(t, p.Close())
	stats.RecordsPut = 200
	assert.Equal(t, int64(0), m.Collect(t).Sum(telemetry.NameProducerRecordsPut), "a closed producer is no longer observed")
}
