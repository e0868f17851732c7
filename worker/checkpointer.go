package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kclgo/kclgo/internal/backoff"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// shardCheckpointer is the native worker's [kcl.Checkpointer]: a checkpoint
// is a conditional write of the lease row on the counter this worker holds.
// A failed condition means another worker took the lease: the checkpoint
// fails with a *kcl.CheckpointError matching kcl.ErrShutdown, the lease is
// marked lost (the processor gets LeaseLost next) and nothing is written
// over the new owner's progress.
//
// As under the daemon, a shardCheckpointer is valid only during the action it
// was passed to; calls are serialised, and the action's end waits for a
// checkpoint in flight.
type shardCheckpointer struct {
	c      *consumer
	action string

	mu     sync.Mutex
	closed bool
	ended  bool // SHARD_END was checkpointed
}

// close ends the checkpointer's validity, after a checkpoint in flight.
func (k *shardCheckpointer) close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
}

func (k *shardCheckpointer) atEnd() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ended
}

// Checkpoint implements [kcl.Checkpointer]: it checkpoints after the last
// record delivered (at shard end: SHARD_END).
func (k *shardCheckpointer) Checkpoint(ctx context.Context) error {
	return k.write(ctx, k.c.delivered, "")
}

// CheckpointAt implements [kcl.Checkpointer].
func (k *shardCheckpointer) CheckpointAt(ctx context.Context, sequenceNumber string, subSequenceNumber int64) error {
	p := position{seq: sequenceNumber, sub: subSequenceNumber}
	label := fmt.Sprintf("%s/%d", sequenceNumber, subSequenceNumber)
	if err := k.check(p); err != "" {
		k.mu.Lock()
		closed := k.closed
		k.mu.Unlock()
		if closed {
			return fmt.Errorf("%w: the checkpointer of %s was used after %s returned", kcl.ErrCheckpointNotAllowed, k.action, k.action)
		}
		k.c.log.Warn().Str("position", label).Str("why", err).Msg("checkpoint refused")
		return &kcl.CheckpointError{Name: protocol.ExceptionIllegalArgument, Position: label, Attempts: 1}
	}
	return k.write(ctx, p, label)
}

// check validates a position asked for, as the Java KCL's
// RecordProcessorCheckpointer: a sequence number, not below the last
// checkpoint, not beyond the last record delivered.
func (k *shardCheckpointer) check(p position) string {
	if p.seq == "" || strings.TrimLeft(p.seq, "0123456789") != "" || p.sub < 0 {
		return "not a sequence number"
	}
	c := k.c
	if !isSentinel(c.checkpoint.seq) && compare(p, c.checkpoint) < 0 {
		return "below the last checkpoint " + c.checkpoint.seq
	}
	if isSentinel(c.delivered.seq) && c.delivered.seq != protocol.SentinelShardEnd {
		return "no record was delivered yet"
	}
	if c.delivered.seq != protocol.SentinelShardEnd && compare(p, c.delivered) > 0 {
		return "beyond the last record delivered " + c.delivered.seq
	}
	return ""
}

// write writes the checkpoint p, retrying throttled and failed writes.
func (k *shardCheckpointer) write(ctx context.Context, p position, label string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.c
	if k.closed {
		return fmt.Errorf("%w: the checkpointer of %s was used after %s returned", kcl.ErrCheckpointNotAllowed, k.action, k.action)
	}
	if label == "" {
		label = fmt.Sprintf("%s/%d", p.seq, p.sub)
	}
	if c.h.isLost() {
		return &kcl.CheckpointError{Name: protocol.ExceptionShutdown, Position: label, Attempts: 1}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("worker: checkpoint not sent: %w", err)
	}
	if isSentinel(p.seq) && p.seq != protocol.SentinelShardEnd {
		return nil // nothing delivered yet: the lease's checkpoint stands
	}
	policy := c.w.cfg.CheckpointRetry
	for attempt := 1; ; attempt++ {
		name := k.writeOnce(ctx, p)
		if name == "" {
			c.checkpoint = p
			if p.seq == protocol.SentinelShardEnd {
				k.ended = true
			}
			c.log.Debug().Str("position", label).Msg("checkpointed")
			return nil
		}
		cerr := &kcl.CheckpointError{Name: name, Position: label, Attempts: attempt}
		retryable := name == protocol.ExceptionThrottling || name == protocol.ExceptionDependency
		if !retryable || attempt >= policy.MaxAttempts {
			c.log.Warn().Err(cerr).Msg("checkpoint failed")
			return cerr
		}
		c.log.Info().Err(cerr).Int("attempt", attempt).Msg("checkpoint failed; retrying")
		d := backoff.Policy{Initial: policy.InitialBackoff, Max: policy.MaxBackoff}.Delay(attempt)
		if err := backoff.Sleep(ctx, d); err != nil {
			return fmt.Errorf("%w; stopped retrying: %w", cerr, err)
		}
	}
}

// writeOnce makes one conditional write and returns the name of the Java
// exception the KCL would report, "" on success.
func (k *shardCheckpointer) writeOnce(ctx context.Context, p position) string {
	h := k.c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return protocol.ExceptionShutdown
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := k.c.w.table.checkpoint(wctx, h.key, h.lease.Counter, p.seq, p.sub, nil)
	switch {
	case err == nil:
		h.lease.Counter++
		h.lease.Checkpoint, h.lease.CheckpointSub = p.seq, p.sub
		return ""
	case errors.Is(err, errConditionFailed):
		h.markLost("a checkpoint found another counter: another worker took the lease")
		return protocol.ExceptionShutdown
	case isThrottle(err):
		return protocol.ExceptionThrottling
	default:
		k.c.log.Warn().Err(err).Msg("checkpoint write failed")
		return protocol.ExceptionDependency
	}
}
