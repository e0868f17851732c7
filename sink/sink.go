// Package sink batches the records of a [kcl.Concurrent] processor for a
// slow destination: a bulk insert, an S3 object, a PutRecordBatch. Records
// are collected per key and handed to a flush function when a batch reaches
// MaxRecords records, MaxBytes bytes or MaxAge; a record counts as finished
// (its [kcl.Ack] is done) only when the flush that carried it succeeded, so
// the processor's checkpoint watermark never passes a record still waiting
// in a batch or in a failing flush. Failed flushes are retried by policy;
// a flush that keeps failing fails its records (see Concurrent's OnError).
//
// A Batcher's Add is a kcl.Concurrent HandleAsync:
//
//	b, err := sink.New(sink.Config{Flush: insertRows})
//	p := &kcl.Concurrent{HandleAsync: b.Add, Unordered: true, MaxInFlight: 4 * 500}
//
// Set Unordered (a Concurrent in key order lets only one record per
// partition key into the batches at a time) and MaxInFlight above
// MaxRecords (else a batch never fills and flushes only by age). Records
// reach a batch in the order Add is called; with Workers 1, that is stream
// order. Batches of one key are flushed one at a time, in order.
package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kclgo/kclgo/internal/backoff"
	"github.com/kclgo/kclgo/kcl"
)

// Config configures a [Batcher].
type Config struct {
	// Flush writes one batch; key is Key's value for its records (""
	// without Key). The records' Data is valid until Flush returns. An
	// error means nothing of the batch counts as written: it is retried as
	// Retry allows, the whole batch again. Required.
	Flush func(ctx context.Context, key string, records []kcl.Record) error
	// Key groups records into separate batches (e.g. by destination table
	// or tag, as Clever's batchconsumer does). Nil means one batch.
	Key func(r kcl.Record) string
	// MaxRecords flushes a batch when it holds this many records. Zero
	// means 500.
	MaxRecords int
	// MaxBytes flushes a batch before a record would take its Data bytes
	// past this. Zero means 5 MiB.
	MaxBytes int
	// MaxAge flushes a batch this long after its first record arrived.
	// Zero means 1 s.
	MaxAge time.Duration
	// Retry is how a failed flush is tried again. The zero value means 5
	// attempts, waits up to 100 ms, 200 ms, ... capped at 5 s;
	// MaxAttempts 1 means no retry.
	Retry kcl.RetryPolicy
}

// ErrNoFlush is returned by [New] for a Config without Flush.
var ErrNoFlush = errors.New("sink: Config.Flush is required")

// FlushError is the error a batch's records fail with when every attempt
// to flush it failed.
type FlushError struct {
	// Key is the batch's key.
	Key string
	// Records is how many records the batch held.
	Records int
	// Attempts is how many times Flush was called.
	Attempts int
	// Err is the last error of Flush (or the context's, when it ended
	// the retries).
	Err error
}

// Error implements error.
func (e *FlushError) Error() string {
	return fmt.Sprintf("sink: flush of %d records (key %q) failed after %d attempt(s): %v", e.Records, e.Key, e.Attempts, e.Err)
}

// Unwrap returns the last error.
func (e *FlushError) Unwrap() error { return e.Err }

// Batcher collects records into batches and flushes them. Its methods are
// safe for concurrent use. Make one per shard, with [New].
type Batcher struct {
	cfg   Config
	retry backoff.Policy

	mu   sync.Mutex
	keys map[string]*keyState
}

// keyState is one key's open batch and the sealed batches waiting for
// their flush.
type keyState struct {
	open     *batch
	sealed   []*batch
	flushing bool // a goroutine is flushing this key's sealed batches
}

type batch struct {
	ctx     context.Context // of the first record's Add: the processor's work
	records []kcl.Record
	acks    []kcl.Ack
	bytes   int
	timer   *time.Timer
}

// New returns a Batcher for cfg.
func New(cfg Config) (*Batcher, error) {
	if cfg.Flush == nil {
		return nil, ErrNoFlush
	}
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = 500
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 5 << 20
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = time.Second
	}
	if cfg.Retry == (kcl.RetryPolicy{}) {
		cfg.Retry = kcl.RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
	}
	return &Batcher{
		cfg:   cfg,
		retry: backoff.Policy{Initial: cfg.Retry.InitialBackoff, Max: cfg.Retry.MaxBackoff},
		keys:  map[string]*keyState{},
	}, nil
}

// Add adds r to its key's batch; ack is done when the batch's flush
// succeeded, or failed with a [*FlushError]. It has the signature of
// [kcl.Concurrent]'s HandleAsync and never fails.
func (b *Batcher) Add(ctx context.Context, r kcl.Record, ack kcl.Ack) error {
	key := ""
	if b.cfg.Key != nil {
		key = b.cfg.Key(r)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.keys[key]
	if k == nil {
		k = &keyState{}
		b.keys[key] = k
	}
	if k.open != nil && k.open.bytes+len(r.Data) > b.cfg.MaxBytes {
		b.seal(key, k) // r would take it past MaxBytes
	}
	if k.open == nil {
		bt := &batch{ctx: ctx}
		k.open = bt
		bt.timer = time.AfterFunc(b.cfg.MaxAge, func() { b.expire(key, bt) })
	}
	bt := k.open
	bt.records = append(bt.records, r)
	bt.acks = append(bt.acks, ack)
	bt.bytes += len(r.Data)
	if len(bt.records) >= b.cfg.MaxRecords || bt.bytes >= b.cfg.MaxBytes {
		b.seal(key, k)
	}
	return nil
}

// expire seals bt when its age is up, if it is still open.
func (b *Batcher) expire(key string, bt *batch) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := b.keys[key]; k != nil && k.open == bt {
		b.seal(key, k)
	}
}

// seal closes k's open batch and starts flushing k unless a flush is
// under way (that one takes the batch next). b.mu is held.
func (b *Batcher) seal(key string, k *keyState) {
	bt := k.open
	k.open = nil
	bt.timer.Stop()
	k.sealed = append(k.sealed, bt)
	if !k.flushing {
		k.flushing = true
		go b.flushKey(key, k)
	}
}

// flushKey flushes k's sealed batches, in order, until none is left.
func (b *Batcher) flushKey(key string, k *keyState) {
	for {
		b.mu.Lock()
		if len(k.sealed) == 0 {
			k.flushing = false
			if k.open == nil {
				delete(b.keys, key)
			}
			b.mu.Unlock()
			return
		}
		bt := k.sealed[0]
		k.sealed = k.sealed[1:]
		b.mu.Unlock()
		err := b.flush(key, bt)
		for _, a := range bt.acks {
			a.Done(err)
		}
	}
}

// flush calls Flush for bt, retrying as the policy allows; nil or a
// *FlushError.
func (b *Batcher) flush(key string, bt *batch) error {
	for attempt := 1; ; attempt++ {
		err := bt.ctx.Err()
		if err == nil {
			err = b.cfg.Flush(bt.ctx, key, bt.records)
			if err == nil {
				return nil
			}
		}
		if attempt >= b.cfg.Retry.MaxAttempts || bt.ctx.Err() != nil {
			return &FlushError{Key: key, Records: len(bt.records), Attempts: attempt, Err: err}
		}
		if serr := backoff.Sleep(bt.ctx, b.retry.Delay(attempt)); serr != nil {
			return &FlushError{Key: key, Records: len(bt.records), Attempts: attempt, Err: fmt.Errorf("%w; stopped retrying: %w", err, serr)}
		}
	}
}
