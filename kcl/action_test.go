package kcl_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// These tests drive an ActionRunner directly, as a runtime other than Run
// would, over a fake transport. Run's tests (run_test.go, robust_test.go,
// process_test.go) prove the same runner against the protocol.

// fakeTransport records the checkpoints it is sent and answers from a
// script.
type fakeTransport struct {
	refusals []string      // answered in order; "" (stored) once used up
	err      error         // when set, every call fails with it
	entered  chan struct{} // when set, receives once per call on entry
	release  chan struct{} // when set, every call waits for it

	mu       sync.Mutex
	calls    []string // "end" for a nil position, else "seq/sub"
	inFlight atomic.Int32
	overlap  atomic.Bool
}

func (f *fakeTransport) SendCheckpoint(_ context.Context, pos *kcl.Position) (string, error) {
	if f.inFlight.Add(1) > 1 {
		f.overlap.Store(true)
	}
	defer f.inFlight.Add(-1)
	if f.entered != nil {
		f.entered <- struct{}{}
	}
	if f.release != nil {
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := "end"
	if pos != nil {
		call = pos.String()
	}
	f.calls = append(f.calls, call)
	if f.err != nil {
		return "", f.err
	}
	if len(f.refusals) > 0 {
		r := f.refusals[0]
		f.refusals = f.refusals[1:]
		return r, nil
	}
	return "", nil
}

func (f *fakeTransport) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func newRunner(t *testing.T, p kcl.RecordProcessor) (*kcl.ActionRunner, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	r := kcl.NewActionRunner(p, quiet(&logs)...)
	require.NoError(t, r.Initialize(context.Background(), kcl.InitializeInput{ShardID: shard, SequenceNumber: protocol.SentinelTrimHorizon}))
	return r, &logs
}

var batch = kcl.ProcessRecordsInput{Records: []kcl.Record{{Data: []byte("a"), SequenceNumber: "1"}, {Data: []byte("b"), SequenceNumber: "2"}}}

func TestActionRunnerCheckpointerEndsWithTheAction(t *testing.T) {
	var saved kcl.Checkpointer
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		saved = in.Checkpointer
		return in.Checkpointer.CheckpointAt(ctx, "2", 0)
	}}
	r, _ := newRunner(t, p)
	tr := &fakeTransport{}
	require.NoError(t, r.ProcessRecords(context.Background(), batch, tr))
	err := saved.Checkpoint(context.Background())
	assert.ErrorIs(t, err, kcl.ErrCheckpointNotAllowed)
	assert.ErrorContains(t, err, "used after processRecords returned")
	assert.Equal(t, []string{"2/0"}, tr.sent(), "the late checkpoint never reached the transport")
}

// A checkpoint in flight on another goroutine when the processor returns:
// the runner returns only after it finished.
func TestActionRunnerWaitsForCheckpointInFlight(t *testing.T) {
	tr := &fakeTransport{entered: make(chan struct{}, 1), release: make(chan struct{})}
	returned := make(chan struct{})
	cpDone := make(chan error, 1)
	p := &fakeProcessor{process: func(_ context.Context, in kcl.ProcessRecordsInput) error {
		go func() { cpDone <- in.Checkpointer.Checkpoint(context.Background()) }()
		<-tr.entered // the checkpoint is in the transport
		close(returned)
		return nil
	}}
	r, _ := newRunner(t, p)
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- r.ProcessRecords(context.Background(), batch, tr) }()
	<-returned
	select {
	case <-runnerDone:
		t.Fatal("the runner returned while a checkpoint was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	close(tr.release)
	require.NoError(t, <-runnerDone)
	require.NoError(t, <-cpDone)
	assert.Equal(t, []string{"end"}, tr.sent())
}

func TestActionRunnerSerializesCheckpoints(t *testing.T) {
	const n = 8
	tr := &fakeTransport{}
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- in.Checkpointer.Checkpoint(ctx)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	}}
	r, _ := newRunner(t, p)
	require.NoError(t, r.ProcessRecords(context.Background(), batch, tr))
	assert.Len(t, tr.sent(), n)
	assert.False(t, tr.overlap.Load(), "two checkpoints were in the transport at once")
}

func TestActionRunnerRetriesRefusals(t *testing.T) {
	tests := []struct {
		refusals []string
		sentinel error // nil: the checkpoint succeeds
		sent     int
	}{
		{[]string{protocol.ExceptionThrottling, protocol.ExceptionThrottling}, nil, 3},
		{[]string{protocol.ExceptionDependency}, nil, 2},
		{[]string{protocol.ExceptionThrottling, protocol.ExceptionThrottling, protocol.ExceptionThrottling, protocol.ExceptionThrottling}, kcl.ErrThrottling, 4}, // MaxAttempts 4
		{[]string{protocol.ExceptionShutdown}, kcl.ErrShutdown, 1},
		{[]string{protocol.ExceptionInvalidState}, kcl.ErrInvalidState, 1},
		{[]string{protocol.ExceptionIllegalArgument}, kcl.ErrIllegalArgument, 1},
		{[]string{"NullPointerException"}, kcl.ErrCheckpointFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.refusals[0], func(t *testing.T) {
			var cerr error
			p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
				cerr = in.Checkpointer.CheckpointAt(ctx, "2", 0)
				return nil
			}}
			r, _ := newRunner(t, p)
			tr := &fakeTransport{refusals: tt.refusals}
			require.NoError(t, r.ProcessRecords(context.Background(), batch, tr))
			assert.Len(t, tr.sent(), tt.sent)
			if tt.sentinel == nil {
				assert.NoError(t, cerr)
				return
			}
			assert.ErrorIs(t, cerr, tt.sentinel)
			assert.ErrorIs(t, cerr, kcl.ErrCheckpointFailed)
			var ce *kcl.CheckpointError
			require.ErrorAs(t, cerr, &ce)
			assert.Equal(t, tt.sent, ce.Attempts)
			assert.Equal(t, "2/0", ce.Position)
		})
	}
}

// A transport failure cancels the action's context, is returned by every
// later checkpoint without calling the transport again, and is what the
// runner returns, without retrying the processor.
func TestActionRunnerTransportFailure(t *testing.T) {
	errGone := errors.New("checkpoint store gone")
	for _, processorFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "processor returns nil", true: "processor returns an error"}[processorFails], func(t *testing.T) {
			var first, second, ctxErr error
			p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
				first = in.Checkpointer.Checkpoint(ctx)
				second = in.Checkpointer.Checkpoint(context.Background())
				ctxErr = ctx.Err()
				if processorFails {
					return errors.New("gave up")
				}
				return nil
			}}
			r, logs := newRunner(t, p)
			tr := &fakeTransport{err: errGone}
			err := r.ProcessRecords(context.Background(), batch, tr)
			assert.ErrorIs(t, err, errGone)
			assert.NotErrorIs(t, err, kcl.ErrProcessorFailed)
			assert.ErrorIs(t, first, errGone)
			assert.ErrorIs(t, second, errGone)
			assert.ErrorIs(t, ctxErr, context.Canceled)
			assert.Equal(t, []string{"end"}, tr.sent())
			assert.Equal(t, []string{"Initialize " + shard + " TRIM_HORIZON", "ProcessRecords 2"}, p.calls, "not retried")
			assert.Contains(t, logs.String(), "stopping without acknowledging")
		})
	}
}

func TestActionRunnerShardEnded(t *testing.T) {
	tests := []struct {
		name string
		f    func(context.Context, kcl.ShardEndedInput) error
		sent []string
	}{
		{"processor checkpoints the end", func(ctx context.Context, in kcl.ShardEndedInput) error { return in.Checkpointer.Checkpoint(ctx) }, []string{"end"}},
		{"processor forgets", func(context.Context, kcl.ShardEndedInput) error { return nil }, []string{"end"}},
		{"processor checkpoints a record only", func(ctx context.Context, in kcl.ShardEndedInput) error {
			return in.Checkpointer.CheckpointAt(ctx, "2", 0)
		}, []string{"2/0", "end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newRunner(t, &fakeProcessor{shardEnded: tt.f})
			tr := &fakeTransport{}
			require.NoError(t, r.ShardEnded(context.Background(), tr))
			assert.Equal(t, tt.sent, tr.sent())
		})
	}
}

func TestActionRunnerPanicsAndRetries(t *testing.T) {
	panics := 1
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		if panics > 0 {
			panics--
			panic("once")
		}
		return in.Checkpointer.Checkpoint(ctx)
	}}
	r, _ := newRunner(t, p)
	tr := &fakeTransport{}
	require.NoError(t, r.ProcessRecords(context.Background(), batch, tr))
	assert.Equal(t, []string{"ProcessRecords 2", "ProcessRecords 2"}, p.calls[1:])
	assert.Equal(t, []string{"end"}, tr.sent(), "the Checkpointer stays valid across retries")

	p = &fakeProcessor{shutdown: func(context.Context, kcl.ShutdownRequestedInput) error { panic("always") }}
	r, logs := newRunner(t, p)
	err := r.ShutdownRequested(context.Background(), tr)
	var ae *kcl.ActionError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, protocol.ActionShutdownRequested, ae.Action)
	assert.Equal(t, shard, ae.ShardID)
	assert.Equal(t, 3, ae.Attempts)
	var pe *kcl.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "always", pe.Value)
	assert.Contains(t, logs.String(), `"stack":`)
}

func TestActionRunnerWithoutTransport(t *testing.T) {
	var cerr error
	p := &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
		cerr = in.Checkpointer.Checkpoint(ctx)
		return nil
	}}
	r, _ := newRunner(t, p)
	require.NoError(t, r.ProcessRecords(context.Background(), batch, nil))
	assert.ErrorIs(t, cerr, kcl.ErrCheckpointNotAllowed)
	assert.ErrorContains(t, cerr, "no checkpoint transport")
	require.NoError(t, r.LeaseLost(context.Background()))
	assert.Equal(t, "LeaseLost", p.calls[len(p.calls)-1])
}

func TestActionRunnerWithoutProcessor(t *testing.T) {
	var zero kcl.ActionRunner
	for _, r := range []*kcl.ActionRunner{&zero, kcl.NewActionRunner(nil)} {
		err := r.ProcessRecords(context.Background(), batch, &fakeTransport{})
		var ae *kcl.ActionError
		require.ErrorAs(t, err, &ae)
		assert.ErrorIs(t, err, kcl.ErrProcessorFailed)
		assert.ErrorContains(t, err, "no RecordProcessor")
	}
}
