package kcl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Concurrent is a [RecordProcessor] that handles a shard's records on up to
// Workers goroutines, for handlers that spend their time waiting (an HTTP
// call, a database write). ProcessRecords hands the batch's records to the
// goroutines and returns while they work, so the next batch is fetched; it
// waits only when MaxInFlight records or MaxInFlightBytes bytes are in
// flight (back-pressure). Records with the same partition key are handled
// one after the other, in stream order, unless Unordered is set.
//
// # The watermark
//
// Records finish in any order, but a checkpoint names only the watermark:
// the last record before which every record delivered is finished (its
// sequence and sub-sequence number). After a crash or a lease move the shard
// resumes after the watermark, so every record is finished at least once;
// records finished beyond it are delivered again.
//
// The Checkpointer exists only during the processor's methods, so the
// watermark is checkpointed at these moments:
//
//   - each ProcessRecords, before it returns: always when Policy is nil,
//     else when Policy says a checkpoint is due (also while ProcessRecords
//     waits for room). Policy counts records as they pass under the
//     watermark. On an idle shard no ProcessRecords comes unless the
//     daemon's properties set callProcessRecordsEvenForEmptyRecordList =
//     true (in the native worker:
//     worker.Config.CallProcessRecordsEvenForEmptyRecordList): then every
//     empty poll is a moment to checkpoint what finished since.
//   - ShutdownRequested: waits for the records in flight, at most
//     ShutdownWait (and as long as its context allows), checkpoints the
//     watermark and cancels the work left.
//   - ShardEnded: waits for every record, then checkpoints the end of the
//     shard.
//
// LeaseLost cancels the work in flight through the handlers' context and
// checkpoints nothing.
//
// # Finishing a record later
//
// With HandleAsync a record is finished when its [Ack]'s Done is called, on
// any goroutine, e.g. after an asynchronous acknowledgement. An Ack that is
// never called holds the watermark back (and keeps its place in flight); it
// never lets it move past the record.
//
// # Failures
//
// A record fails when its handler returns an error, panics, or its Ack is
// done with an error. OnError (if set) decides: nil counts the record as
// finished (e.g. after writing it to a dead-letter queue) and processing
// goes on; an error fails the shard, as with [PerRecord]: the watermark
// stops before the record, no more records are accepted, and the next
// method call checkpoints the watermark and returns a [*RecordError]. Run
// then does not acknowledge it and exits, and the shard is delivered again
// from the watermark.
//
// A checkpoint refused by the daemon is logged and processing goes on, as
// with PerRecord; only at shard end is a failed checkpoint an error.
//
// A Concurrent is for one shard: make one per processor (the daemon starts
// one process per shard; the native worker's factory is called per shard).
// Set exactly one of Handle and HandleAsync. Configure it before
// Initialize; the fields must not change afterwards.
type Concurrent struct {
	// Handle processes one record; the record is finished when it returns
	// nil. r.Data is the processor's own copy, valid until Handle returns.
	Handle func(ctx context.Context, r Record) error
	// HandleAsync starts processing one record; the record is finished
	// when ack.Done is called (or failed, if HandleAsync returns an error:
	// then ack must not be used). r.Data is the processor's own copy,
	// valid until the record is finished.
	HandleAsync func(ctx context.Context, r Record, ack Ack) error

	// Workers is the number of goroutines calling the handler. Zero
	// means 64.
	Workers int
	// MaxInFlight bounds the records accepted and not yet finished (being
	// handled, waiting for an Ack, or waiting behind a record with the
	// same partition key). Zero means 4 × Workers.
	MaxInFlight int
	// MaxInFlightBytes bounds the Data bytes of the records in flight; a
	// larger record is accepted when nothing else is in flight. Zero means
	// 64 MiB.
	MaxInFlightBytes int
	// Unordered lets records with the same partition key be handled at
	// the same time. False (the default): one after the other, in order.
	Unordered bool
	// Policy decides when ProcessRecords checkpoints the watermark. Nil
	// means at every ProcessRecords.
	Policy CheckpointPolicy
	// OnError is called with a record that failed; nil from it counts the
	// record as finished. Nil OnError, or an error from it, fails the
	// shard. It may be called on any goroutine, concurrently.
	OnError func(ctx context.Context, r Record, err error) error
	// OnInitialize, if set, is called by Initialize.
	OnInitialize func(ctx context.Context, in InitializeInput) error
	// ShutdownWait bounds how long ShutdownRequested waits for the records
	// in flight before it checkpoints the watermark. Zero means 20 s. Keep
	// it below the time the daemon (or native worker) allows a graceful
	// shutdown.
	ShutdownWait time.Duration

	st *concState
}

// RecordError is the error a [Concurrent] processor fails the shard with:
// a record failed and OnError did not take it.
type RecordError struct {
	// Record is the record that failed (without its Data).
	Record Record
	// Err is the handler's error (a [*PanicError] for a panic), or the
	// error OnError returned.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("kcl: record %s/%d (partition key %q) failed: %v", e.Record.SequenceNumber, e.Record.SubSequenceNumber, e.Record.PartitionKey, e.Err)
}

// Unwrap returns the record's error.
func (e *RecordError) Unwrap() error { return e.Err }

// ErrConcurrentClosed is returned by a [Concurrent] processor given records
// after ShutdownRequested, ShardEnded or LeaseLost, and by ShardEnded when
// records were still unfinished after a shutdown.
var ErrConcurrentClosed = errors.New("kcl: concurrent processor closed")

// errNoHandler is Concurrent's configuration error.
var errNoHandler = errors.New("kcl: Concurrent needs exactly one of Handle and HandleAsync")

// Ack finishes one record of a [Concurrent] processor's HandleAsync. It is
// safe to use from any goroutine; only its first Done counts.
type Ack struct{ e *entry }

// Done finishes the record: nil means it is done, an error that it failed
// (see Concurrent's OnError). Calls after the first, and calls after the
// processor closed, do nothing.
func (a Ack) Done(err error) {
	if a.e != nil {
		a.e.st.finish(a.e, err)
	}
}

// entry is one accepted record, from admission until it passes under the
// watermark.
type entry struct {
	st   *concState
	r    Record
	size int
	once atomic.Bool // set by the first finish
	done bool        // guarded by st.mu: finished successfully
}

// concState is one shard's state of a Concurrent processor.
type concState struct {
	c      *Concurrent
	ctx    context.Context // the handlers' context: cancelled by close
	cancel context.CancelFunc
	run    chan *entry // to the workers; capacity maxN, so a send never blocks
	wake   chan struct{}
	maxN   int
	maxB   int

	mu       sync.Mutex
	queue    []*entry            // accepted, in stream order, not yet under the watermark
	keys     map[string][]*entry // partition keys in progress: the records waiting behind
	inflight int
	bytes    int
	mark     position // the watermark
	sent     position // the last watermark checkpointed
	due      bool     // Policy asked for a checkpoint
	hold     bool     // a refusal stops checkpoints until the next batch
	failed   *RecordError
	closed   bool

	batchFirst position // first record of the last batch, and how many of it were accepted:
	batchDone  int      // a retried batch skips those
}

func (c *Concurrent) state(ctx context.Context) (*concState, error) {
	if c.st != nil {
		return c.st, nil
	}
	if (c.Handle == nil) == (c.HandleAsync == nil) {
		return nil, errNoHandler
	}
	workers := c.Workers
	if workers <= 0 {
		workers = 64
	}
	st := &concState{c: c, maxN: c.MaxInFlight, maxB: c.MaxInFlightBytes, keys: map[string][]*entry{}, wake: make(chan struct{}, 1)}
	if st.maxN <= 0 {
		st.maxN = 4 * workers
	}
	if st.maxB <= 0 {
		st.maxB = 64 << 20
	}
	// The handlers outlive the method that accepted their records: their
	// context keeps its values (the logger) but not its cancellation.
	st.ctx, st.cancel = context.WithCancel(context.WithoutCancel(ctx))
	st.run = make(chan *entry, st.maxN)
	for range workers {
		go st.work()
	}
	c.st = st
	return st, nil
}

// Initialize implements [RecordProcessor]. It starts the workers.
func (c *Concurrent) Initialize(ctx context.Context, in InitializeInput) error {
	if _, err := c.state(ctx); err != nil {
		return err
	}
	if c.OnInitialize != nil {
		return c.OnInitialize(ctx, in)
	}
	return nil
}

// ProcessRecords implements [RecordProcessor]: it accepts the records,
// waiting for room when the bounds are reached, and checkpoints the
// watermark (see [Concurrent]).
func (c *Concurrent) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	st, err := c.state(ctx)
	if err != nil {
		return err
	}
	st.mu.Lock()
	st.hold = false
	start := 0
	if len(in.Records) > 0 {
		first := recordPosition(in.Records[0])
		if first == st.batchFirst {
			start = st.batchDone // a retry of a batch that failed part way
		} else {
			st.batchFirst, st.batchDone = first, 0
		}
	}
	st.mu.Unlock()
	for i := start; i < len(in.Records); i++ {
		if err := st.admit(ctx, in.Checkpointer, in.Records[i]); err != nil {
			var re *RecordError
			if errors.As(err, &re) {
				_ = st.flush(ctx, in.Checkpointer, true) // keep what is finished
			}
			return err
		}
	}
	if err := st.failure(); err != nil {
		_ = st.flush(ctx, in.Checkpointer, true)
		return err
	}
	return st.flush(ctx, in.Checkpointer, c.Policy == nil)
}

// ShutdownRequested implements [RecordProcessor]: it waits for the records
// in flight (at most ShutdownWait), checkpoints the watermark and cancels
// the work left.
func (c *Concurrent) ShutdownRequested(ctx context.Context, in ShutdownRequestedInput) error {
	st, err := c.state(ctx)
	if err != nil {
		return err
	}
	wait := c.ShutdownWait
	if wait <= 0 {
		wait = 20 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	st.mu.Lock()
	st.hold = false
	st.mu.Unlock()
	left := st.waitIdle(wctx)
	if left > 0 {
		zerolog.Ctx(ctx).Warn().Int("records", left).Dur("waited", wait).Msg("shutdown requested: records still unfinished; checkpointing the watermark before them")
	}
	err = st.flush(ctx, in.Checkpointer, true)
	st.close()
	if f := st.failure(); f != nil {
		return f
	}
	return err
}

// ShardEnded implements [RecordProcessor]: it waits for every record, then
// checkpoints the end of the shard. It fails the shard rather than
// checkpoint the end while a record is unfinished (after a failure, or
// records cancelled by an earlier shutdown).
func (c *Concurrent) ShardEnded(ctx context.Context, in ShardEndedInput) error {
	st, err := c.state(ctx)
	if err != nil {
		return err
	}
	if left := st.waitIdle(ctx); left > 0 {
		if f := st.failure(); f != nil {
			_ = st.flush(ctx, in.Checkpointer, true)
			st.close()
			return f
		}
		_ = st.flush(ctx, in.Checkpointer, true)
		st.close()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: shard end with %d records unfinished: %w", ErrConcurrentClosed, left, err)
		}
		return fmt.Errorf("%w: shard end with %d records left unfinished by an earlier shutdown", ErrConcurrentClosed, left)
	}
	st.close()
	if f := st.failure(); f != nil {
		return f
	}
	if !st.allFinished() {
		return fmt.Errorf("%w: shard end with records left unfinished by an earlier shutdown", ErrConcurrentClosed)
	}
	return in.Checkpointer.Checkpoint(ctx)
}

// LeaseLost implements [RecordProcessor]: it cancels the work in flight
// and checkpoints nothing.
func (c *Concurrent) LeaseLost(ctx context.Context, in LeaseLostInput) error {
	if c.st != nil {
		c.st.close()
	}
	return nil
}

// work is one worker goroutine.
func (st *concState) work() {
	for e := range st.run {
		if st.ctx.Err() != nil {
			continue // closed: the record is delivered again
		}
		st.handle(e)
	}
}

// handle calls the handler for e. A synchronous handler's record is
// finished when it returns; an asynchronous one's when its Ack is done,
// or when HandleAsync fails.
func (st *concState) handle(e *entry) {
	err := recovered(func() error {
		if st.c.Handle != nil {
			return st.c.Handle(st.ctx, e.r)
		}
		return st.c.HandleAsync(st.ctx, e.r, Ack{e})
	})
	if st.c.Handle != nil || err != nil {
		st.finish(e, err)
	}
}

// recovered calls f, turning a panic into a *PanicError: the handlers run
// on the processor's own goroutines, out of the ActionRunner's reach.
func recovered(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return f()
}

// admit accepts r, waiting for room, and hands it to a worker unless a
// record with its partition key is in progress.
func (st *concState) admit(ctx context.Context, cp Checkpointer, r Record) error {
	size := len(r.Data)
	for {
		st.mu.Lock()
		if f := st.failed; f != nil {
			st.mu.Unlock()
			return f
		}
		if st.closed {
			st.mu.Unlock()
			return fmt.Errorf("%w: record %s/%d arrived after the shard's end", ErrConcurrentClosed, r.SequenceNumber, r.SubSequenceNumber)
		}
		if st.inflight < st.maxN && (st.bytes+size <= st.maxB || st.inflight == 0) {
			break
		}
		due := st.due
		st.mu.Unlock()
		if due {
			if err := st.flush(ctx, cp, false); err != nil {
				return err
			}
		}
		select {
		case <-st.wake:
		case <-ctx.Done():
			return fmt.Errorf("kcl: waiting for room for record %s/%d: %w", r.SequenceNumber, r.SubSequenceNumber, ctx.Err())
		}
	}
	defer st.mu.Unlock()
	r.Data = bytes.Clone(r.Data)
	e := &entry{st: st, r: r, size: size}
	st.queue = append(st.queue, e)
	st.inflight++
	st.bytes += size
	st.batchDone++
	if !st.c.Unordered {
		if w, busy := st.keys[r.PartitionKey]; busy {
			st.keys[r.PartitionKey] = append(w, e)
			return nil
		}
		st.keys[r.PartitionKey] = nil
	}
	st.run <- e
	return nil
}

// finish ends e's flight: done when err is nil (or OnError takes it),
// else failed, which fails the shard.
func (st *concState) finish(e *entry, err error) {
	if !e.once.CompareAndSwap(false, true) {
		return // a second Done
	}
	if err != nil && st.c.OnError != nil && st.ctx.Err() == nil {
		err = recovered(func() error { return st.c.OnError(st.ctx, e.r, err) })
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.inflight--
	st.bytes -= e.size
	e.r.Data = nil
	if err != nil {
		if st.failed == nil && !st.closed {
			st.failed = &RecordError{Record: e.r, Err: err}
		}
		st.release(e, true)
	} else {
		e.done = true
		st.advance()
		st.release(e, false)
	}
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// advance moves the watermark over the finished records at the head of
// the queue. st.mu is held.
func (st *concState) advance() {
	n := 0
	for n < len(st.queue) && st.queue[n].done {
		st.mark = recordPosition(st.queue[n].r)
		if st.c.Policy != nil && st.c.Policy.RecordDone() {
			st.due = true
		}
		n++
	}
	if n > 0 {
		clear(st.queue[:n])
		st.queue = st.queue[n:]
	}
}

// release hands the next record waiting for e's partition key to a
// worker; after a failure (or once closed) the records waiting behind it
// are dropped instead: they are delivered again. st.mu is held.
func (st *concState) release(e *entry, failed bool) {
	if st.c.Unordered {
		return
	}
	k := e.r.PartitionKey
	w := st.keys[k]
	if failed || st.closed || st.failed != nil {
		for _, x := range w {
			if x.once.CompareAndSwap(false, true) {
				st.inflight--
				st.bytes -= x.size
			}
		}
		delete(st.keys, k)
		return
	}
	if len(w) == 0 {
		delete(st.keys, k)
		return
	}
	st.keys[k] = w[1:]
	st.run <- w[0]
}

// failure returns the shard's failure, if any.
func (st *concState) failure() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.failed != nil {
		return st.failed
	}
	return nil
}

// waitIdle waits until no record is in flight, a record failed, or ctx
// ends; it returns the records still in flight. A long wait (a handler
// that hangs, an Ack forgotten) is logged every waitLog.
func (st *concState) waitIdle(ctx context.Context) int {
	tick := time.NewTicker(waitLog)
	defer tick.Stop()
	began := time.Now()
	for {
		st.mu.Lock()
		n, stop := st.inflight, st.failed != nil || st.closed
		st.mu.Unlock()
		if n == 0 || stop {
			return n
		}
		select {
		case <-st.wake:
		case <-tick.C:
			zerolog.Ctx(ctx).Warn().Int("records", n).Dur("waited", time.Since(began)).Msg("still waiting for records in flight (a handler that hangs, or an Ack never done?)")
		case <-ctx.Done():
			return n
		}
	}
}

// waitLog is how often a long wait for the records in flight is logged.
const waitLog = 30 * time.Second

// allFinished reports whether every accepted record is under the
// watermark.
func (st *concState) allFinished() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.queue) == 0
}

// close stops accepting records, cancels the handlers' context and stops
// the workers (each once its handler returned). Records in flight stay
// unfinished.
func (st *concState) close() {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed = true
	close(st.run)
	st.mu.Unlock()
	st.cancel()
}

// flush checkpoints the watermark if it moved since the last checkpoint
// and force is set or the Policy asked for it.
func (st *concState) flush(ctx context.Context, cp Checkpointer, force bool) error {
	st.mu.Lock()
	m := st.mark
	need := m.ok && m != st.sent && !st.hold && (force || st.due)
	st.mu.Unlock()
	if !need || cp == nil {
		return nil
	}
	err := cp.CheckpointAt(ctx, m.seq, m.sub)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.c.Policy != nil {
		st.c.Policy.Checkpointed()
	}
	st.due = false
	if err == nil {
		st.sent = m
	}
	hold, err := checkpointOutcome(ctx, err, "concurrent")
	st.hold = st.hold || hold
	return err
}

// checkpointOutcome is how the record adapters (PerRecord, Concurrent)
// treat a checkpoint's error: a refusal is logged and processing goes on
// (the next checkpoint covers the same records), and hold reports that the
// lease moved on or no checkpoint is possible, so stop asking until the
// next batch; only a broken conversation with the daemon is returned,
// since the batch's records may no longer be valid then.
func checkpointOutcome(ctx context.Context, err error, who string) (hold bool, _ error) {
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, ErrProtocol):
		return false, err
	case errors.Is(err, ErrShutdown), errors.Is(err, ErrInvalidState), errors.Is(err, ErrCheckpointNotAllowed):
		zerolog.Ctx(ctx).Info().Err(err).Msg(who + " checkpoint refused; not checkpointing for the rest of the batch")
		return true, nil
	default:
		zerolog.Ctx(ctx).Warn().Err(err).Msg(who + " checkpoint failed; going on")
		return false, nil
	}
}

func recordPosition(r Record) position {
	return position{seq: r.SequenceNumber, sub: r.SubSequenceNumber, ok: true}
}
