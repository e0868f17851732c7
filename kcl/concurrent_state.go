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

// The state of a Concurrent processor's shard: records in flight, the
// watermark, and its checkpoints.

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

	behind    chan struct{} // closed when the checkpoint flushBehind started is over; nil: none
	behindErr error         // what it returned, for settle

	batchFirst position // first record of the last batch, and how many of it were accepted:
	batchDone  int      // a retried batch skips those
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
			st.flushBehind(ctx, cp)
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

// flushBehind starts a checkpoint of the watermark on its own goroutine,
// so that records keep being accepted during its round trip; one at a
// time. ProcessRecords settles it before it returns (the Checkpointer is
// valid only until then).
func (st *concState) flushBehind(ctx context.Context, cp Checkpointer) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.behind != nil {
		return
	}
	done := make(chan struct{})
	st.behind = done
	go func() {
		defer close(done)
		err := st.flush(ctx, cp, false)
		st.mu.Lock()
		defer st.mu.Unlock()
		st.behind = nil
		if st.behindErr == nil {
			st.behindErr = err
		}
	}()
}

// settle waits for a checkpoint started by flushBehind and returns its
// error (only a broken conversation with the daemon).
func (st *concState) settle() error {
	st.mu.Lock()
	done := st.behind
	st.mu.Unlock()
	if done != nil {
		<-done
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	err := st.behindErr
	st.behindErr = nil
	return err
}

// flush checkpoints the watermark if it moved since the last checkpoint
// and force is set or the Policy asked for it.
func (st *concState) flush(ctx context.Context, cp Checkpointer, force bool) error {
	st.mu.Lock()
	m := st.mark
	need := m.ok && m != st.sent && !st.hold && (force || st.due) && cp != nil
	if need {
		// The policy counts from here: records passing under the
		// watermark during the round trip count towards the next one.
		// (Also when it is refused, as with PerRecord.)
		if st.c.Policy != nil {
			st.c.Policy.Checkpointed()
		}
		st.due = false
	}
	st.mu.Unlock()
	if !need {
		return nil
	}
	err := cp.CheckpointAt(ctx, m.seq, m.sub)
	st.mu.Lock()
	defer st.mu.Unlock()
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
