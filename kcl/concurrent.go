package kcl

import (
	"context"
	"errors"
	"fmt"
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
//     else when Policy says a checkpoint is due; with a Policy also while
//     ProcessRecords waits for room, without holding up the records being
//     accepted. Policy counts records as they pass under the watermark. On an idle shard no ProcessRecords comes unless the
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
	for i := start; i < len(in.Records) && err == nil; i++ {
		err = st.admit(ctx, in.Checkpointer, in.Records[i])
	}
	if serr := st.settle(); serr != nil {
		return serr
	}
	if err != nil {
		var re *RecordError
		if errors.As(err, &re) {
			_ = st.flush(ctx, in.Checkpointer, true) // keep what is finished
		}
		return err
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
