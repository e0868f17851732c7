package kcl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// fakeProcessor calls the funcs that are set and records what it saw.
type fakeProcessor struct {
	initialize func(context.Context, kcl.InitializeInput) error
	process    func(context.Context, kcl.ProcessRecordsInput) error
	leaseLost  func(context.Context, kcl.LeaseLostInput) error
	shardEnded func(context.Context, kcl.ShardEndedInput) error
	shutdown   func(context.Context, kcl.ShutdownRequestedInput) error
	calls      []string
	records    []string
}

func (p *fakeProcessor) Initialize(ctx context.Context, in kcl.InitializeInput) error {
	p.calls = append(p.calls, "Initialize "+in.ShardID+" "+in.SequenceNumber)
	if p.initialize != nil {
		return p.initialize(ctx, in)
	}
	return nil
}

func (p *fakeProcessor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	p.calls = append(p.calls, fmt.Sprintf("ProcessRecords %d", len(in.Records)))
	for _, r := range in.Records {
		p.records = append(p.records, string(r.Data))
	}
	if p.process != nil {
		return p.process(ctx, in)
	}
	return in.Checkpointer.Checkpoint(ctx)
}

func (p *fakeProcessor) LeaseLost(ctx context.Context, in kcl.LeaseLostInput) error {
	p.calls = append(p.calls, "LeaseLost")
	if p.leaseLost != nil {
		return p.leaseLost(ctx, in)
	}
	return nil
}

func (p *fakeProcessor) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	p.calls = append(p.calls, "ShardEnded")
	if p.shardEnded != nil {
		return p.shardEnded(ctx, in)
	}
	return in.Checkpointer.Checkpoint(ctx)
}

func (p *fakeProcessor) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	p.calls = append(p.calls, "ShutdownRequested")
	if p.shutdown != nil {
		return p.shutdown(ctx, in)
	}
	return in.Checkpointer.Checkpoint(ctx)
}

// quiet returns options for tests: logs captured in buf, fast retries.
func quiet(buf *bytes.Buffer) []kcl.Option {
	return []kcl.Option{
		kcl.WithLogger(zerolog.New(buf)),
		kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 3}),
		kcl.WithCheckpointRetry(kcl.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond}),
	}
}

func run(t *testing.T, d *kcltest.Daemon, p kcl.RecordProcessor) (*kcltest.Result, string) {
	t.Helper()
	var logs bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res := d.RunProcessor(ctx, p, quiet(&logs)...)
	t.Logf("transcript:\n%s", res.Transcript)
	return res, logs.String()
}

const shard = "shardId-000000000001"

func TestNormalFlow(t *testing.T) {
	p := &fakeProcessor{}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 0), kcltest.Records(3, 2, 0))}
	res, logs := run(t, d, p)
	require.NoError(t, res.DaemonErr)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{
		"> initialize", "< status initialize",
		"> processRecords 3", "< checkpoint null", "> checkpoint ok", "< status processRecords",
		"> processRecords 2", "< checkpoint null", "> checkpoint ok", "< status processRecords",
		"> leaseLost", "< status leaseLost",
	}, res.Transcript.Summary())
	assert.Equal(t, []string{"Initialize " + shard + " TRIM_HORIZON", "ProcessRecords 3", "ProcessRecords 2", "LeaseLost"}, p.calls)
	assert.Equal(t, []string{"rec-000000", "rec-000001", "rec-000002", "rec-000003", "rec-000004"}, p.records)
	assert.Equal(t, kcltest.SequenceNumber(4)+"/0", res.Checkpoint)
	assert.Contains(t, logs, `"shard":"`+shard+`"`)
}

func TestRecordFields(t *testing.T) {
	var got kcl.ProcessRecordsInput
	p := &fakeProcessor{process: func(_ context.Context, in kcl.ProcessRecordsInput) error {
		got = in
		got.Records = append([]kcl.Record(nil), in.Records...)
		return nil
	}}
	rec := protocol.Record{Data: []byte("meow"), PartitionKey: "cat", SequenceNumber: "4959", SubSequenceNumber: 3, ApproximateArrivalTimestamp: 1476889707123}
	millis := int64(250)
	d := &kcltest.Daemon{Script: []protocol.Message{kcltest.Initialize(shard), protocol.ProcessRecords{Records: []protocol.Record{rec}, MillisBehindLatest: &millis}}}
	res, _ := run(t, d, p)
	require.NoError(t, res.DaemonErr)
	require.Len(t, got.Records, 1)
	r := got.Records[0]
	assert.Equal(t, "cat", r.PartitionKey)
	assert.Equal(t, "4959", r.SequenceNumber)
	assert.Equal(t, int64(3), r.SubSequenceNumber)
	assert.Equal(t, time.UnixMilli(1476889707123), r.ApproximateArrivalTimestamp)
	assert.Equal(t, int64(250), got.MillisBehindLatest)
}

func TestCheckpointThrottledThenSucceeds(t *testing.T) {
	p := &fakeProcessor{}
	d := &kcltest.Daemon{
		Script:           kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0)),
		CheckpointErrors: []string{"ThrottlingException", "ThrottlingException"},
	}
	res, logs := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{
		"> initialize", "< status initialize",
		"> processRecords 2",
		"< checkpoint null", "> checkpoint ThrottlingException",
		"< checkpoint null", "> checkpoint ThrottlingException",
		"< checkpoint null", "> checkpoint ok",
		"< status processRecords",
		"> leaseLost", "< status leaseLost",
	}, res.Transcript.Summary())
	assert.Equal(t, kcltest.SequenceNumber(1)+"/0", res.Checkpoint)
	assert.Contains(t, logs, "checkpoint failed; retrying")
}

func TestCheckpointErrorsAreTyped(t *testing.T) {
	tests := []struct {
		name     string
		sentinel error
		attempts int
	}{
		{"ThrottlingException", kcl.ErrThrottling, 4}, // retried until MaxAttempts
		{"KinesisClientLibDependencyException", kcl.ErrDependency, 4},
		{"ShutdownException", kcl.ErrShutdown, 1},
		{"InvalidStateException", kcl.ErrInvalidState, 1},
		{"IllegalArgumentException", kcl.ErrIllegalArgument, 1},
		{"NullPointerException", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cerr error
			p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
				cerr = in.Checkpointer.Checkpoint(ctx)
				return nil
			}}
			errs := make([]string, 10)
			for i := range errs {
				errs[i] = tt.name
			}
			d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 1, 0)), CheckpointErrors: errs}
			res, _ := run(t, d, p)
			require.NoError(t, res.ChildErr)
			require.Error(t, cerr)
			assert.ErrorIs(t, cerr, kcl.ErrCheckpointFailed)
			if tt.sentinel != nil {
				assert.ErrorIs(t, cerr, tt.sentinel)
			}
			var ce *kcl.CheckpointError
			require.ErrorAs(t, cerr, &ce)
			assert.Equal(t, tt.name, ce.Name)
			assert.Equal(t, tt.attempts, ce.Attempts)
			assert.Contains(t, cerr.Error(), tt.name)
		})
	}
}

func TestShardEndedCheckpointsBeforeStatus(t *testing.T) {
	p := &fakeProcessor{}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.ShardEnded{}, kcltest.Records(0, 2, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"> shardEnded", "< checkpoint null", "> checkpoint ok", "< status shardEnded"}, res.Transcript.Summary()[6:])
	assert.Equal(t, "SHARD_END", res.Checkpoint)
}

// A processor that forgets to checkpoint at shard end: Run does it.
func TestShardEndedForgotten(t *testing.T) {
	p := &fakeProcessor{shardEnded: func(context.Context, kcl.ShardEndedInput) error { return nil }}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.ShardEnded{}, kcltest.Records(0, 2, 0))}
	res, logs := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, "SHARD_END", res.Checkpoint)
	assert.Contains(t, logs, "did not checkpoint at shard end")
}

func TestLeaseLostNoCheckpoint(t *testing.T) {
	var saved kcl.Checkpointer
	var lateErr error
	p := &fakeProcessor{
		process: func(_ context.Context, in kcl.ProcessRecordsInput) error { saved = in.Checkpointer; return nil },
		leaseLost: func(ctx context.Context, _ kcl.LeaseLostInput) error {
			lateErr = saved.Checkpoint(ctx)
			return nil
		},
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.ErrorIs(t, lateErr, kcl.ErrCheckpointNotAllowed)
	assert.Equal(t, []string{"> leaseLost", "< status leaseLost"}, res.Transcript.Summary()[4:], "nothing sent for the refused checkpoint")
	assert.Equal(t, "TRIM_HORIZON", res.Checkpoint)
}

func TestShutdownRequested(t *testing.T) {
	p := &fakeProcessor{process: func(context.Context, kcl.ProcessRecordsInput) error { return nil }}
	d := &kcltest.Daemon{Script: []protocol.Message{kcltest.Initialize(shard), kcltest.Batch(kcltest.Records(0, 3, 0)...), protocol.ShutdownRequested{}, protocol.LeaseLost{}}}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"> shutdownRequested", "< checkpoint null", "> checkpoint ok", "< status shutdownRequested", "> leaseLost", "< status leaseLost"}, res.Transcript.Summary()[4:])
	assert.Equal(t, kcltest.SequenceNumber(2)+"/0", res.Checkpoint)
}

func TestKCL1Shutdown(t *testing.T) {
	t.Run("TERMINATE is ShardEnded", func(t *testing.T) {
		p := &fakeProcessor{}
		d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.Shutdown{Reason: protocol.ReasonTerminate}, kcltest.Records(0, 1, 0))}
		res, _ := run(t, d, p)
		require.NoError(t, res.ChildErr)
		assert.Equal(t, "ShardEnded", p.calls[len(p.calls)-1])
		assert.Equal(t, []string{"> shutdown TERMINATE", "< checkpoint null", "> checkpoint ok", "< status shutdown"}, res.Transcript.Summary()[6:])
		assert.Equal(t, "SHARD_END", res.Checkpoint)
	})
	t.Run("ZOMBIE is LeaseLost", func(t *testing.T) {
		p := &fakeProcessor{}
		d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.Shutdown{Reason: protocol.ReasonZombie}, kcltest.Records(0, 1, 0))}
		res, _ := run(t, d, p)
		require.NoError(t, res.ChildErr)
		assert.Equal(t, "LeaseLost", p.calls[len(p.calls)-1])
		assert.Equal(t, []string{"> shutdown ZOMBIE", "< status shutdown"}, res.Transcript.Summary()[6:])
	})
}

func TestHugeLine(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB line")
	}
	// 48 records of 1 MiB: a processRecords line of about 64 MiB.
	recs := kcltest.Records(0, 48, 1<<20)
	total := 0
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		for _, r := range in.Records {
			total += len(r.Data)
		}
		return in.Checkpointer.Checkpoint(ctx)
	}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, recs)}
	line := protocol.AppendMessage(nil, d.Script[1])
	require.Greater(t, len(line), 64<<20)
	res, _ := run(t, d, p)
	require.NoError(t, res.DaemonErr)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, 48<<20, total)
	assert.Equal(t, kcltest.SequenceNumber(47)+"/0", res.Checkpoint)
}

func TestEmptyRecords(t *testing.T) {
	p := &fakeProcessor{}
	d := &kcltest.Daemon{Script: []protocol.Message{kcltest.Initialize(shard), kcltest.Batch(), protocol.LeaseLost{}}}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"> processRecords 0", "< checkpoint null", "> checkpoint ok", "< status processRecords"}, res.Transcript.Summary()[2:6])
	assert.Equal(t, "TRIM_HORIZON", res.Checkpoint)
}

func TestUnknownActionAcknowledged(t *testing.T) {
	p := &fakeProcessor{}
	d := &kcltest.Daemon{Script: []protocol.Message{kcltest.Initialize(shard), protocol.Unknown{Name: "rebalanceHint"}, protocol.LeaseLost{}}}
	res, logs := run(t, d, p)
	require.NoError(t, res.DaemonErr)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"> rebalanceHint", "< status rebalanceHint"}, res.Transcript.Summary()[2:4])
	assert.Contains(t, logs, "unknown action")
	assert.Equal(t, []string{"Initialize " + shard + " TRIM_HORIZON", "LeaseLost"}, p.calls)
}

// serveRaw runs Serve over literal daemon input.
func serveRaw(t *testing.T, p kcl.RecordProcessor, in string) (string, string, error) {
	t.Helper()
	var out, logs bytes.Buffer
	err := kcl.Serve(context.Background(), p, strings.NewReader(in), &out, quiet(&logs)...)
	return out.String(), logs.String(), err
}

func TestStdinClosedMidLine(t *testing.T) {
	p := &fakeProcessor{}
	out, logs, err := serveRaw(t, p, `{"action":"initialize","shardId":"s","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`+"\n"+`{"action":"processRecords","records":[{"data":"YQ==","partit`)
	require.Error(t, err)
	assert.ErrorIs(t, err, protocol.ErrTruncated)
	assert.Contains(t, err.Error(), "line 2")
	assert.Equal(t, `{"action":"status","responseFor":"initialize"}`+"\n", out, "the partial batch is not acknowledged")
	assert.Equal(t, []string{"Initialize s TRIM_HORIZON"}, p.calls)
	assert.Contains(t, logs, "cannot read the daemon's message")
}

func TestMalformedLine(t *testing.T) {
	p := &fakeProcessor{}
	out, _, err := serveRaw(t, p, `{"action":"initialize","shardId":"s"}`+"\n"+`{"action":"processRecords","records":[{"data":"!!","partitionKey":"k","sequenceNumber":"1"}]}`+"\n")
	require.ErrorIs(t, err, protocol.ErrMalformed)
	var de *protocol.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 2, de.Line)
	assert.Equal(t, "records[0].data", de.Field)
	assert.Equal(t, `{"action":"status","responseFor":"initialize"}`+"\n", out)
}

func TestCheckpointReplyMissing(t *testing.T) {
	// The daemon's input ends while the processor waits for a checkpoint
	// reply: the checkpoint fails, the batch is not acknowledged.
	var cerr error
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		cerr = in.Checkpointer.Checkpoint(ctx)
		return nil
	}}
	out, _, err := serveRaw(t, p, `{"action":"initialize","shardId":"s"}`+"\n"+`{"action":"processRecords","records":[],"millisBehindLatest":0}`+"\n")
	require.Error(t, err)
	assert.ErrorIs(t, cerr, io.EOF)
	assert.NotContains(t, out, `"responseFor":"processRecords"`)
}

func TestProcessorErrorRetriedThenSucceeds(t *testing.T) {
	fails := 2
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		if fails > 0 {
			fails--
			return errors.New("database unavailable")
		}
		return in.Checkpointer.Checkpoint(ctx)
	}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0))}
	res, logs := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"ProcessRecords 2", "ProcessRecords 2", "ProcessRecords 2"}, p.calls[1:4])
	assert.Contains(t, logs, "database unavailable")
	assert.Equal(t, kcltest.SequenceNumber(1)+"/0", res.Checkpoint)
}

func TestProcessorErrorNeverAcknowledged(t *testing.T) {
	p := &fakeProcessor{process: func(context.Context, kcl.ProcessRecordsInput) error { return errors.New("database unavailable") }}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0), kcltest.Records(2, 2, 0))}
	res, logs := run(t, d, p)
	assert.ErrorIs(t, res.ChildErr, kcl.ErrProcessorFailed)
	var ae *kcl.ActionError
	require.ErrorAs(t, res.ChildErr, &ae)
	assert.Equal(t, "processRecords", ae.Action)
	assert.Equal(t, shard, ae.ShardID)
	assert.Equal(t, 3, ae.Attempts)
	assert.Equal(t, []string{"> initialize", "< status initialize", "> processRecords 2"}, res.Transcript.Summary())
	assert.ErrorContains(t, res.DaemonErr, "closed stdout before answering processRecords")
	assert.Equal(t, "TRIM_HORIZON", res.Checkpoint)
	assert.Contains(t, logs, "giving up without acknowledging")
}

func TestProcessorPanics(t *testing.T) {
	p := &fakeProcessor{process: func(context.Context, kcl.ProcessRecordsInput) error {
		perShard := map[string]map[string]int{} // no inner maps yet
		perShard[shard]["boom"]++               // a runtime error: assignment to entry in nil map
		return nil
	}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0))}
	res, logs := run(t, d, p)
	var pe *kcl.PanicError
	require.ErrorAs(t, res.ChildErr, &pe)
	assert.Contains(t, pe.Error(), "assignment to entry in nil map")
	assert.Contains(t, string(pe.Stack), "run_test.go")
	assert.Contains(t, logs, `"stack":`)
	assert.Equal(t, []string{"> initialize", "< status initialize", "> processRecords 2"}, res.Transcript.Summary())
	assert.Equal(t, "TRIM_HORIZON", res.Checkpoint)
}

// Record data stays valid across checkpoints made while the batch is
// processed (each checkpoint reads a reply from the daemon).
func TestRecordsValidAcrossCheckpoints(t *testing.T) {
	var seen []string
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		for _, r := range in.Records {
			if err := in.Checkpointer.CheckpointAt(ctx, r.SequenceNumber, r.SubSequenceNumber); err != nil {
				return err
			}
		}
		for _, r := range in.Records {
			seen = append(seen, string(r.Data[:10])+" "+r.PartitionKey)
		}
		return nil
	}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 3, 64))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{"rec-000000 pk-0", "rec-000001 pk-1", "rec-000002 pk-2"}, seen)
}

func TestCheckpointAheadIsRefused(t *testing.T) {
	var cerr error
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		cerr = in.Checkpointer.CheckpointAt(ctx, kcltest.SequenceNumber(99), 0)
		return nil
	}}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0))}
	res, _ := run(t, d, p)
	require.NoError(t, res.ChildErr)
	assert.ErrorIs(t, cerr, kcl.ErrIllegalArgument)
	assert.Equal(t, "TRIM_HORIZON", res.Checkpoint)
}
