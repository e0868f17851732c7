package kcl

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kclgo/kclgo/internal/telemetry"
	"github.com/kclgo/kclgo/protocol"
)

// Position is a record's place in its shard, where a checkpoint is asked
// for: its sequence number and, for a user record of a KPL aggregate, its
// sub-sequence number (0 for a plain record).
type Position struct {
	// SequenceNumber is the Kinesis sequence number, a decimal string.
	SequenceNumber string
	// SubSequenceNumber is the index within a KPL aggregate; 0 for a
	// plain record.
	SubSequenceNumber int64
}

// String returns "sequence/sub-sequence", as in [CheckpointError.Position].
func (p Position) String() string { return fmt.Sprintf("%s/%d", p.SequenceNumber, p.SubSequenceNumber) }

// CheckpointTransport carries a checkpoint to where checkpoints are stored:
// for [Run], a round trip to the daemon, which writes the lease table; for
// another runtime, e.g. its own conditional write of the lease. The
// Checkpointer an [ActionRunner] hands the processor calls it, one call at a
// time and only while the action runs; it never calls it after the action
// returned.
type CheckpointTransport interface {
	// SendCheckpoint makes one attempt at storing a checkpoint at pos. A
	// nil pos means after the last record delivered to the processor so
	// far or, during ShardEnded, the end of the shard
	// ([protocol.SentinelShardEnd]).
	//
	// It returns "" when the checkpoint is stored, or the simple name of
	// the Java checkpoint exception that refused it (the
	// protocol.Exception* names; any other name is kept as it is): the
	// Checkpointer retries [protocol.ExceptionThrottling] and
	// [protocol.ExceptionDependency] as the checkpoint [RetryPolicy]
	// allows, and reports a refusal as a [*CheckpointError].
	//
	// It returns an error only when no checkpoint can be sent any more
	// (for Run: the conversation with the daemon broke, an error matching
	// [ErrProtocol]). That ends the action: its context is cancelled, the
	// Checkpointer returns the error from then on, and the ActionRunner
	// returns it instead of reporting success.
	SendCheckpoint(ctx context.Context, pos *Position) (refusal string, err error)
}

// checkpointScope is the Checkpointer handed to one action, and the one
// owner of its state:
//
//   - valid: from newCheckpointScope until end; a checkpoint may start.
//   - in flight: one checkpoint (with its retries) holds the turn; another
//     waits for it.
//   - ended: end was called; a checkpoint is refused with
//     [ErrCheckpointNotAllowed] without calling the transport. end waits for
//     a checkpoint in flight, so nothing is sent after the action's end.
//
// A transport failure is kept: every later checkpoint returns it, and so do
// wait and end, for the runner to return.
type checkpointScope struct {
	transport CheckpointTransport // nil: no checkpoint is ever allowed
	action    string
	runner    *ActionRunner      // its logger and checkpoint retry policy
	cancel    context.CancelFunc // cancels the action's context
	tel       *telemetry.Shard   // the runner's instruments when the action started; nil: no metrics

	ended atomic.Bool // set by end: no checkpoint starts any more
	turn  sync.Mutex  // held by the checkpoint in flight, with its retries

	// Guarded by turn.
	broken error // the transport's failure, if any
	atEnd  bool  // a checkpoint without position succeeded
}

func newCheckpointScope(t CheckpointTransport, action string, r *ActionRunner, cancel context.CancelFunc) *checkpointScope {
	return &checkpointScope{transport: t, action: action, runner: r, cancel: cancel, tel: r.shard}
}

// wait waits for a checkpoint in flight to finish and returns the
// transport's failure, if any. The scope stays valid (for a retry of the
// action).
func (c *checkpointScope) wait() error {
	c.turn.Lock()
	defer c.turn.Unlock()
	return c.broken
}

// end ends the scope's validity: no checkpoint starts any more. It waits
// for a checkpoint in flight and returns the transport's failure, if any.
func (c *checkpointScope) end() error {
	c.ended.Store(true)
	return c.wait()
}

// checkpointedEnd reports whether a checkpoint without position succeeded.
func (c *checkpointScope) checkpointedEnd() bool {
	c.turn.Lock()
	defer c.turn.Unlock()
	return c.atEnd
}

// Checkpoint implements [Checkpointer].
func (c *checkpointScope) Checkpoint(ctx context.Context) error {
	return c.checkpoint(ctx, nil)
}

// CheckpointAt implements [Checkpointer].
func (c *checkpointScope) CheckpointAt(ctx context.Context, sequenceNumber string, subSequenceNumber int64) error {
	return c.checkpoint(ctx, &Position{SequenceNumber: sequenceNumber, SubSequenceNumber: subSequenceNumber})
}

func (c *checkpointScope) notAllowed() error {
	if c.transport == nil {
		return fmt.Errorf("%w: %s has no checkpoint transport", ErrCheckpointNotAllowed, c.action)
	}
	return fmt.Errorf("%w: the checkpointer of %s was used after %s returned", ErrCheckpointNotAllowed, c.action, c.action)
}

func (c *checkpointScope) checkpoint(ctx context.Context, pos *Position) error {
	if c.ended.Load() || c.transport == nil {
		return c.notAllowed()
	}
	c.turn.Lock() // waits for a checkpoint in flight
	defer c.turn.Unlock()
	if c.ended.Load() {
		return c.notAllowed() // the action returned while this call waited
	}
	if c.broken != nil {
		return c.broken
	}
	if ctx.Err() != nil {
		// The cause, when the runtime gave one (the native worker: the
		// lease was lost, matching ErrShutdown), else ctx.Err().
		return fmt.Errorf("kcl: checkpoint not sent: %w", context.Cause(ctx))
	}
	at := ""
	if pos != nil {
		at = pos.String()
	}
	log, retry, tel := &c.runner.log, c.runner.opts.checkpointRetry, c.tel
	var start time.Time
	if tel != nil {
		start = time.Now()
	}
	for attempt := 1; ; attempt++ {
		name, err := c.transport.SendCheckpoint(ctx, pos)
		if err != nil {
			c.broken = err
			c.cancel() // the processor's records may no longer be valid
			tel.Checkpoint(ctx, since(tel, start), telemetry.ErrorTransport)
			return err
		}
		if name == "" {
			if pos == nil {
				c.atEnd = true
			}
			log.Debug().Str("position", at).Msg("checkpointed")
			tel.Checkpoint(ctx, since(tel, start), "")
			return nil
		}
		tel.CheckpointRefused(ctx, name)
		cerr := &CheckpointError{Name: name, Position: at, Attempts: attempt}
		if !retryable(name) || attempt >= retry.MaxAttempts {
			log.Warn().Err(cerr).Msg("checkpoint failed")
			tel.Checkpoint(ctx, since(tel, start), name)
			return cerr
		}
		log.Info().Err(cerr).Int("attempt", attempt).Msg("checkpoint failed; retrying")
		if err := sleep(ctx, retry.backoff(attempt)); err != nil {
			tel.Checkpoint(ctx, since(tel, start), name)
			return fmt.Errorf("%w; stopped retrying: %w", cerr, err)
		}
	}
}

// since is the time since start, measured only when metrics are recorded.
func since(tel *telemetry.Shard, start time.Time) time.Duration {
	if tel == nil {
		return 0
	}
	return time.Since(start)
}

// retryable reports whether a checkpoint refused with the exception name
// may succeed when tried again.
func retryable(name string) bool {
	return name == protocol.ExceptionThrottling || name == protocol.ExceptionDependency
}
