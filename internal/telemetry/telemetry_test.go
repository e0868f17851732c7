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
