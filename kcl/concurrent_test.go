package kcl_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// recs returns n records with sequence numbers from kcltest and the
// partition key key(i).
func recs(first, n int, key func(i int) string) []kcl.Record {
	out := make([]kcl.Record, n)
	for i := range out {
		id := first + i
		out[i] = kcl.Record{Data: []byte("rec-" + strconv.Itoa(id)), PartitionKey: key(id), SequenceNumber: kcltest.SequenceNumber(id)}
	}
	return out
}

func distinctKeys(i int) string { return "pk-" + strconv.Itoa(i) }

// runner returns an ActionRunner for p, as the native worker makes one,
// initialized on a shard.
func runner(t *testing.T, p kcl.RecordProcessor) *kcl.ActionRunner {
	t.Helper()
	r := kcl.NewActionRunner(p, kcl.WithLogger(zerolog.Nop()), kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1}))
	require.NoError(t, r.Initialize(context.Background(), kcl.InitializeInput{ShardID: "shardId-000000000001"}))
	return r
}

func TestConcurrentNeedsOneHandler(t *testing.T) {
	for name, c := range map[string]*kcl.Concurrent{
		"none": {},
		"both": {Handle: func(context.Context, kcl.Record) error { return nil }, HandleAsync: func(context.Context, kcl.Record, kcl.Ack) error { return nil }},
	} {
		err := c.Initialize(context.Background(), kcl.InitializeInput{})
		assert.ErrorContains(t, err, "exactly one of Handle and HandleAsync", name)
	}
}

// Same partition key: one at a time, in order; different keys: at the same
// time.
func TestConcurrentKeyOrder(t *testing.T) {
	var mu sync.Mutex
	running := map[string]bool{}
	last := map[string]int{}
	var now, peak atomic.Int32
	var problems []string
	c := &kcl.Concurrent{Workers: 16, Handle: func(ctx context.Context, r kcl.Record) error {
		n := now.Add(1)
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		i, _ := strconv.Atoi(string(r.Data[4:]))
		mu.Lock()
		if running[r.PartitionKey] {
			problems = append(problems, "two records of "+r.PartitionKey+" at once")
		}
		if prev, ok := last[r.PartitionKey]; ok && prev > i {
			problems = append(problems, "record "+strconv.Itoa(i)+" of "+r.PartitionKey+" after "+strconv.Itoa(prev))
		}
		running[r.PartitionKey], last[r.PartitionKey] = true, i
		mu.Unlock()
		time.Sleep(200 * time.Microsecond)
		mu.Lock()
		running[r.PartitionKey] = false
		mu.Unlock()
		return nil
	}}
	r := runner(t, c)
	tr := &fakeTransport{}
	for b := range 5 {
		require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(b*100, 100, func(i int) string { return "k" + strconv.Itoa(i%4) })}, tr))
	}
	require.NoError(t, r.ShardEnded(context.Background(), tr))
	assert.Empty(t, problems)
	assert.Greater(t, peak.Load(), int32(1), "different keys ran at the same time")
	assert.LessOrEqual(t, peak.Load(), int32(4), "4 keys: at most 4 at once")
	assert.Equal(t, "end", tr.calls[len(tr.calls)-1])
}

// ProcessRecords returns while records are still being handled, and waits
// when MaxInFlight records are in flight.
func TestConcurrentBackPressure(t *testing.T) {
	gate := make(chan struct{})
	var started atomic.Int32
	c := &kcl.Concurrent{Workers: 8, MaxInFlight: 4, Handle: func(ctx context.Context, r kcl.Record) error {
		started.Add(1)
		<-gate
		return nil
	}}
	r := runner(t, c)
	tr := &fakeTransport{}
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(0, 4, distinctKeys)}, tr),
		"4 records fit: ProcessRecords returns while they are handled")
	done := make(chan error, 1)
	go func() {
		done <- r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(4, 2, distinctKeys)}, tr)
	}()
	select {
	case err := <-done:
		t.Fatalf("ProcessRecords returned (%v) with 6 records for 4 places", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(gate)
	require.NoError(t, <-done)
	require.NoError(t, r.ShardEnded(context.Background(), tr))
	assert.EqualValues(t, 6, started.Load())
}

// The byte bound: a record that does not fit waits; one larger than the
// bound goes alone.
func TestConcurrentBytesBound(t *testing.T) {
	var mu sync.Mutex
	var inFlight, peak int
	c := &kcl.Concurrent{Workers: 8, MaxInFlightBytes: 10, Handle: func(ctx context.Context, r kcl.Record) error {
		mu.Lock()
		inFlight += len(r.Data)
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight -= len(r.Data)
		mu.Unlock()
		return nil
	}}
	r := runner(t, c)
	in := recs(0, 20, distinctKeys)
	in[7].Data = make([]byte, 25) // larger than the bound
	tr := &fakeTransport{}
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: in}, tr))
	require.NoError(t, r.ShardEnded(context.Background(), tr))
	assert.LessOrEqual(t, peak, 25)
}

// A forgotten Ack holds the watermark back; ShutdownRequested waits for it
// up to ShutdownWait and checkpoints the watermark before it.
func TestConcurrentForgottenAck(t *testing.T) {
	c := &kcl.Concurrent{ShutdownWait: 30 * time.Millisecond, HandleAsync: func(ctx context.Context, r kcl.Record, ack kcl.Ack) error {
		if string(r.Data) != "rec-3" {
			ack.Done(nil)
			ack.Done(errors.New("a second Done does nothing"))
		}
		return nil
	}}
	r := runner(t, c)
	tr := &fakeTransport{}
	for b := range 3 {
		require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(b*5, 5, distinctKeys)}, tr))
	}
	begin := time.Now()
	require.NoError(t, r.ShutdownRequested(context.Background(), tr))
	assert.GreaterOrEqual(t, time.Since(begin), 30*time.Millisecond, "ShutdownRequested waited for the Ack")
	require.NotEmpty(t, tr.calls)
	for _, call := range tr.calls {
		assert.LessOrEqual(t, call, kcltest.SequenceNumber(2)+"/0", "no checkpoint at or past the unfinished record 3")
	}
	assert.Equal(t, kcltest.SequenceNumber(2)+"/0", tr.calls[len(tr.calls)-1])
	assert.ErrorIs(t, r.ShardEnded(context.Background(), tr), kcl.ErrProcessorFailed, "no shard end over an unfinished record")
}

// LeaseLost cancels the handlers' context and checkpoints nothing.
func TestConcurrentLeaseLost(t *testing.T) {
	cancelled := make(chan struct{}, 10)
	var started sync.WaitGroup
	started.Add(3)
	c := &kcl.Concurrent{Handle: func(ctx context.Context, r kcl.Record) error {
		started.Done()
		<-ctx.Done()
		cancelled <- struct{}{}
		return ctx.Err()
	}}
	r := runner(t, c)
	tr := &fakeTransport{}
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(0, 3, distinctKeys)}, tr))
	started.Wait()
	require.NoError(t, r.LeaseLost(context.Background()))
	for range 3 {
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("a handler's context was not cancelled by LeaseLost")
		}
	}
	assert.Empty(t, tr.calls)
}

// A failure without OnError fails the shard: the watermark stops before
// the record, and the next call returns a RecordError. With OnError taking
// it, processing goes on past it.
func TestConcurrentFailure(t *testing.T) {
	boom := errors.New("boom")
	handle := func(ctx context.Context, r kcl.Record) error {
		if string(r.Data) == "rec-2" {
			return boom
		}
		if string(r.Data) == "rec-4" {
			panic("rec-4 panics")
		}
		return nil
	}
	t.Run("fail the shard", func(t *testing.T) {
		c := &kcl.Concurrent{Workers: 1, Handle: handle}
		r := runner(t, c)
		tr := &fakeTransport{}
		// The failure shows in this call or a later one.
		require.Eventually(t, func() bool {
			return r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(0, 5, distinctKeys)}, tr) != nil
		}, 5*time.Second, time.Millisecond)
		err := r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(6, 1, distinctKeys)}, tr)
		var re *kcl.RecordError
		require.ErrorAs(t, err, &re)
		assert.ErrorIs(t, err, boom)
		assert.Equal(t, kcltest.SequenceNumber(2), re.Record.SequenceNumber)
		assert.Equal(t, kcltest.SequenceNumber(1)+"/0", tr.calls[len(tr.calls)-1], "the watermark stops before the failed record")
	})
	t.Run("dead letter", func(t *testing.T) {
		var mu sync.Mutex
		var dead []string
		c := &kcl.Concurrent{Handle: handle, OnError: func(ctx context.Context, r kcl.Record, err error) error {
			mu.Lock()
			defer mu.Unlock()
			dead = append(dead, string(r.Data)+": "+err.Error())
			return nil
		}}
		r := runner(t, c)
		tr := &fakeTransport{}
		require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(0, 6, distinctKeys)}, tr))
		require.NoError(t, r.ShardEnded(context.Background(), tr))
		assert.ElementsMatch(t, []string{"rec-2: boom", "rec-4: panic: rec-4 panics"}, dead)
		assert.Equal(t, "end", tr.calls[len(tr.calls)-1])
	})
}

// A policy's checkpoint comes while ProcessRecords waits for room, not
// only at its end.
func TestConcurrentPolicyWhileWaiting(t *testing.T) {
	// One worker: records finish in order, so the watermark moves with
	// every record (with more, a slow first record may hold it back).
	c := &kcl.Concurrent{Workers: 1, MaxInFlight: 2, Policy: &everyN{n: 10}, Handle: func(ctx context.Context, r kcl.Record) error {
		time.Sleep(100 * time.Microsecond)
		return nil
	}}
	r := runner(t, c)
	tr := &fakeTransport{}
	require.NoError(t, r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(0, 100, distinctKeys)}, tr))
	assert.GreaterOrEqual(t, len(tr.calls), 5, "about one checkpoint per 10 records within the batch: %v", tr.calls)
	require.NoError(t, r.ShardEnded(context.Background(), tr))
}

// Under the daemon (kcl.Serve, through kcltest's fake): every accepted
// checkpoint is at or behind the records finished when it was sent, and the
// shard's end is checkpointed.
func TestConcurrentUnderDaemon(t *testing.T) {
	var mu sync.Mutex
	finished := map[string]bool{}
	var problems []string
	// 16 in flight, batches of 50: each ProcessRecords waits for records
	// to finish, so the watermark moves during it.
	c := &kcl.Concurrent{Workers: 8, MaxInFlight: 16, Handle: func(ctx context.Context, r kcl.Record) error {
		i, _ := strconv.Atoi(string(r.Data[4:]))
		time.Sleep(time.Duration(i%7) * 100 * time.Microsecond)
		mu.Lock()
		finished[r.SequenceNumber] = true
		mu.Unlock()
		return nil
	}}
	check := &watermarkCheck{finished: finished, mu: &mu, problems: &problems}
	var batches [][]protocol.Record
	for b := range 10 {
		batches = append(batches, kcltest.Records(b*50, 50, 0))
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000002", protocol.ShardEnded{}, batches...)}
	res := d.RunProcessor(context.Background(), check.wrap(c), kcl.WithLogger(zerolog.Nop()))
	require.NoError(t, res.DaemonErr)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, "SHARD_END", res.Checkpoint)
	assert.Empty(t, problems)
	assert.Len(t, finished, 500)
	assert.Greater(t, len(res.Transcript.Accepted()), 2)
}

// watermarkCheck wraps a processor's Checkpointer to check each checkpoint
// against the records finished.
type watermarkCheck struct {
	kcl.RecordProcessor
	finished map[string]bool
	mu       *sync.Mutex
	problems *[]string
}

func (w *watermarkCheck) wrap(p kcl.RecordProcessor) *watermarkCheck {
	w.RecordProcessor = p
	return w
}

func (w *watermarkCheck) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	in.Checkpointer = checkingCheckpointer{in.Checkpointer, w}
	return w.RecordProcessor.ProcessRecords(ctx, in)
}

type checkingCheckpointer struct {
	kcl.Checkpointer
	w *watermarkCheck
}

func (c checkingCheckpointer) CheckpointAt(ctx context.Context, seq string, sub int64) error {
	c.w.mu.Lock()
	for i := 0; kcltest.SequenceNumber(i) <= seq; i++ {
		if !c.w.finished[kcltest.SequenceNumber(i)] {
			*c.w.problems = append(*c.w.problems, "checkpoint at "+seq+" with record "+strconv.Itoa(i)+" unfinished")
			break
		}
	}
	c.w.mu.Unlock()
	return c.Checkpointer.CheckpointAt(ctx, seq, sub)
}

// A policy's checkpoint during ProcessRecords does not hold up the records
// being accepted: while the checkpoint waits for its reply, more records
// than MaxInFlight get handled.
func TestConcurrentPolicyCheckpointBehind(t *testing.T) {
	var handled atomic.Int32
	c := &kcl.Concurrent{Workers: 1, MaxInFlight: 2, Policy: &everyN{n: 10}, Handle: func(ctx context.Context, r kcl.Record) error {
		time.Sleep(100 * time.Microsecond) // 1,000 records: 100 ms at least, the first checkpoint due after 1 ms
		handled.Add(1)
		return nil
	}}
	r := runner(t, c)
	tr := &fakeTransport{entered: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- r.ProcessRecords(context.Background(), kcl.ProcessRecordsInput{Records: recs(0, 1000, distinctKeys)}, tr)
	}()
	select {
	case <-tr.entered: // the first checkpoint is waiting for its reply
	case <-time.After(10 * time.Second):
		t.Fatal("no checkpoint within 10 s")
	}
	at := handled.Load()
	require.Eventually(t, func() bool { return handled.Load() >= at+10 }, 5*time.Second, time.Millisecond,
		"records accepted and handled while the checkpoint is in flight")
	go func() {
		for range tr.entered {
		}
	}()
	close(tr.release)
	require.NoError(t, <-done)
	close(tr.entered)
	assert.False(t, tr.overlap.Load(), "one checkpoint at a time")
}
