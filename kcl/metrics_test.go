package kcl_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/internal/telemetry/telemetrytest"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// These tests read what the processing instruments recorded through the
// SDK's ManualReader: under Serve (the daemon's path) and through an
// ActionRunner (the native worker's), success and failure paths.

var (
	onShard   = telemetry.KeyShard.String(shard)
	noError   = telemetry.KeyErrorType.String(telemetrytest.Absent)
	inProcess = telemetry.KeyAction.String(protocol.ActionProcessRecords)
)

func errType(v string) attribute.KeyValue { return telemetry.KeyErrorType.String(v) }

func TestMetricsUnderServeWithThrottledCheckpoint(t *testing.T) {
	m := telemetrytest.New(t)
	d := &kcltest.Daemon{
		Script:           kcltest.Lifecycle(shard, protocol.ShardEnded{}, kcltest.Records(0, 100, 16), kcltest.Records(100, 50, 16)),
		CheckpointErrors: []string{protocol.ExceptionThrottling}, // the first checkpoint is throttled once, then stored
	}
	var logs bytes.Buffer
	opts := append(quiet(&logs), kcl.WithMeterProvider(m.Provider), kcl.WithMetricAttributes(telemetry.KeyStream.String("orders")))
	res := d.RunProcessor(context.Background(), &fakeProcessor{}, opts...)
	require.NoError(t, res.DaemonErr, "%s", res.Transcript)
	require.NoError(t, res.ChildErr)
	s := m.Collect(t)

	assert.Equal(t, int64(150), s.Sum(telemetry.NameProcessorRecords, onShard), s)
	assert.Equal(t, int64(150*16), s.Sum(telemetry.NameProcessorBytes, onShard))
	assert.Equal(t, "By", s.Unit(telemetry.NameProcessorBytes))
	n, _ := s.Count(telemetry.NameProcessorDuration, onShard, inProcess, noError)
	assert.Equal(t, uint64(2), n, "batches")
	assert.Equal(t, "s", s.Unit(telemetry.NameProcessorDuration))
	for _, a := range []string{protocol.ActionInitialize, protocol.ActionShardEnded} {
		n, _ := s.Count(telemetry.NameProcessorDuration, telemetry.KeyAction.String(a), noError)
		assert.Equal(t, uint64(1), n, a)
	}
	lag, ok := s.Gauge(telemetry.NameBehindLatest, onShard)
	assert.True(t, ok)
	assert.Equal(t, int64(0), lag)
	assert.Equal(t, "ms", s.Unit(telemetry.NameBehindLatest))

	// fakeProcessor checkpoints each batch, and at the end: three stored
	// checkpoints, the first after one throttled attempt.
	n, _ = s.Count(telemetry.NameCheckpointDuration, onShard, noError)
	assert.Equal(t, uint64(3), n, "checkpoints stored")
	assert.Equal(t, int64(1), s.Sum(telemetry.NameCheckpointFailures, onShard, errType(protocol.ExceptionThrottling)))
	assert.Equal(t, int64(1), s.Sum(telemetry.NameCheckpointFailures), "no other refusal")
	assert.Equal(t, int64(0), s.Sum(telemetry.NameProcessorErrors))

	// Bounded attributes only, the user's stream on every point.
	assert.Equal(t, []string{"kcl.shard.id", "kcl.stream.name"}, s.Keys(telemetry.NameProcessorRecords))
	assert.Equal(t, []string{"error.type", "kcl.shard.id", "kcl.stream.name"}, s.Keys(telemetry.NameCheckpointFailures))
	assert.Equal(t, int64(150), s.Sum(telemetry.NameProcessorRecords, telemetry.KeyStream.String("orders")))
}

func TestMetricsProcessorErrorRetriedAndPanicGivenUp(t *testing.T) {
	m := telemetrytest.New(t)
	calls := 0
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		calls++
		switch {
		case calls == 1:
			return errors.New("downstream unavailable")
		case calls >= 3:
			panic("boom")
		}
		return in.Checkpointer.Checkpoint(ctx)
	}}
	var logs bytes.Buffer
	r := kcl.NewActionRunner(p, append(quiet(&logs), kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 2}), kcl.WithMeterProvider(m.Provider))...)
	require.NoError(t, r.Initialize(context.Background(), kcl.InitializeInput{ShardID: shard}))
	in := batch
	in.MillisBehindLatest = 4200
	require.NoError(t, r.ProcessRecords(context.Background(), in, &fakeTransport{}), "the retry succeeds")
	err := r.ProcessRecords(context.Background(), batch, &fakeTransport{})
	require.ErrorIs(t, err, kcl.ErrProcessorFailed, "both attempts panic")
	s := m.Collect(t)

	assert.Equal(t, int64(1), s.Sum(telemetry.NameProcessorErrors, onShard, inProcess, errType(telemetry.ErrorProcessor)))
	assert.Equal(t, int64(2), s.Sum(telemetry.NameProcessorErrors, onShard, inProcess, errType(telemetry.ErrorPanic)))
	assert.Equal(t, int64(2), s.Sum(telemetry.NameProcessorRetries, onShard, inProcess), "one retry per batch")
	n, _ := s.Count(telemetry.NameProcessorDuration, inProcess, noError)
	assert.Equal(t, uint64(1), n)
	n, _ = s.Count(telemetry.NameProcessorDuration, inProcess, errType(telemetry.ErrorPanic))
	assert.Equal(t, uint64(1), n, "the batch given up")
	assert.Equal(t, int64(2), s.Sum(telemetry.NameProcessorRecords), "only the acknowledged batch's records")
	lag, _ := s.Gauge(telemetry.NameBehindLatest, onShard)
	assert.Equal(t, int64(0), lag, "the last batch's millisBehindLatest (0: batch has none set)")
}

func TestMetricsCheckpointRefusalsAndBrokenTransport(t *testing.T) {
	m := telemetrytest.New(t)
	var logs bytes.Buffer
	var ckErrs []error
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		ckErrs = append(ckErrs, in.Checkpointer.Checkpoint(ctx))
		return nil
	}}
	r := kcl.NewActionRunner(p, append(quiet(&logs), kcl.WithMeterProvider(m.Provider))...)
	require.NoError(t, r.Initialize(context.Background(), kcl.InitializeInput{ShardID: shard}))
	// Throttled for good (4 attempts), then a lost lease, then a name
	// nobody knows, then a broken transport.
	tr := &fakeTransport{refusals: []string{"ThrottlingException", "ThrottlingException", "ThrottlingException", "ThrottlingException",
		protocol.ExceptionShutdown, "SomeNewException"}}
	for range 3 {
		require.NoError(t, r.ProcessRecords(context.Background(), batch, tr))
	}
	broken := errors.New("pipe closed")
	err := r.ProcessRecords(context.Background(), batch, &fakeTransport{err: broken})
	require.ErrorIs(t, err, broken)
	require.ErrorIs(t, ckErrs[0], kcl.ErrThrottling)
	s := m.Collect(t)

	assert.Equal(t, int64(4), s.Sum(telemetry.NameCheckpointFailures, errType(protocol.ExceptionThrottling)))
	assert.Equal(t, int64(1), s.Sum(telemetry.NameCheckpointFailures, errType(protocol.ExceptionShutdown)))
	assert.Equal(t, int64(1), s.Sum(telemetry.NameCheckpointFailures, errType(telemetry.ErrorOther)), "an unknown name is bounded to _OTHER")
	for _, e := range []string{protocol.ExceptionThrottling, protocol.ExceptionShutdown, telemetry.ErrorOther, telemetry.ErrorTransport} {
		n, _ := s.Count(telemetry.NameCheckpointDuration, onShard, errType(e))
		assert.Equal(t, uint64(1), n, e)
	}
	n, sum := s.Count(telemetry.NameCheckpointDuration, errType(protocol.ExceptionThrottling))
	assert.Equal(t, uint64(1), n)
	assert.Greater(t, sum, 0.0, "the throttled call's duration includes its back-off")
	n, _ = s.Count(telemetry.NameProcessorDuration, inProcess, errType(telemetry.ErrorTransport))
	assert.Equal(t, uint64(1), n, "the action that met the broken transport")
	assert.Equal(t, int64(6), s.Sum(telemetry.NameProcessorRecords), "refused checkpoints do not fail the batches")
}

func TestMetricsPerRecordThroughTheRunner(t *testing.T) {
	m := telemetrytest.New(t)
	p := &kcl.PerRecord{Handle: func(ctx context.Context, r kcl.Record) (bool, error) { return false, nil }}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.ShutdownRequested{}, kcltest.Records(0, 10, 8), kcltest.Records(10, 10, 8))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled), kcl.WithMeterProvider(m.Provider))
	require.NoError(t, res.DaemonErr, "%s", res.Transcript)
	s := m.Collect(t)
	assert.Equal(t, int64(20), s.Sum(telemetry.NameProcessorRecords, onShard))
	assert.Equal(t, int64(160), s.Sum(telemetry.NameProcessorBytes, onShard))
	n, _ := s.Count(telemetry.NameCheckpointDuration, onShard, noError)
	assert.Equal(t, uint64(3), n, "one per batch (no policy) and at shutdown")
}

func TestMetricsOffByDefaultAndWithNoop(t *testing.T) {
	for _, opts := range [][]kcl.Option{nil, {kcl.WithMeterProvider(noop.NewMeterProvider())}} {
		var logs bytes.Buffer
		r := kcl.NewActionRunner(&fakeProcessor{}, append(quiet(&logs), opts...)...)
		require.NoError(t, r.Initialize(context.Background(), kcl.InitializeInput{ShardID: shard}))
		require.NoError(t, r.ProcessRecords(context.Background(), batch, &fakeTransport{}))
		assert.NotContains(t, logs.String(), "metrics")
	}
}

// ExampleWithMeterProvider runs a processor under the daemon with metrics:
// in a real child, mp is an SDK provider with a push exporter (OTLP), as
// samples/perrecord's -otlp flag shows.
func ExampleWithMeterProvider() {
	mp := noop.NewMeterProvider() // e.g. sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exporter)))
	p := &kcl.PerRecord{Handle: func(ctx context.Context, r kcl.Record) (bool, error) { return false, nil }}
	_ = kcl.Serve(context.Background(), p, bytes.NewReader(nil), &bytes.Buffer{},
		kcl.WithMeterProvider(mp), kcl.WithMetricAttributes(attribute.String("kcl.stream.name", "orders")))
	// Output:
}
