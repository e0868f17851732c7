package worker

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// leaseTransport is the native worker's [kcl.CheckpointTransport]: a
// checkpoint is a conditional write of the lease row on the counter this
// worker holds. The kcl.ActionRunner around it gives the Checkpointer its
// lifecycle (valid during one action, serialised, retries of throttling).
//
// A failed condition means another worker took the lease: the refusal is
// ShutdownException (the Checkpointer returns a *kcl.CheckpointError
// matching kcl.ErrShutdown), the lease is marked lost (the processor gets
// LeaseLost next), and nothing is written over the new owner's progress.
type leaseTransport struct {
	c          *consumer
	atShardEnd bool // during ShardEnded: a checkpoint without position is SHARD_END
}

// SendCheckpoint implements [kcl.CheckpointTransport].
func (t *leaseTransport) SendCheckpoint(ctx context.Context, pos *kcl.Position) (string, error) {
	c := t.c
	p := c.delivered
	if pos != nil {
		p = position{seq: pos.SequenceNumber, sub: pos.SubSequenceNumber}
		if why := t.check(p); why != "" {
			c.log.Warn().Str("position", pos.String()).Str("why", why).Msg("checkpoint refused")
			return protocol.ExceptionIllegalArgument, nil
		}
	} else if t.atShardEnd {
		p = position{seq: protocol.SentinelShardEnd}
	}
	if c.h.isLost() {
		return protocol.ExceptionShutdown, nil
	}
	if isSentinel(p.seq) && p.seq != protocol.SentinelShardEnd {
		return "", nil // nothing delivered yet: the lease's checkpoint stands
	}
	name := t.write(ctx, p)
	if name == "" {
		c.checkpoint = p
		c.log.Debug().Str("position", p.seq).Int64("sub", p.sub).Msg("checkpointed")
	}
	return name, nil
}

// check validates a position asked for, as the Java KCL's
// RecordProcessorCheckpointer does: a sequence number, not below the last
// checkpoint, not beyond the last record delivered.
func (t *leaseTransport) check(p position) string {
	c := t.c
	if p.seq == "" || strings.TrimLeft(p.seq, "0123456789") != "" || p.sub < 0 {
		return "not a sequence number"
	}
	if !isSentinel(c.checkpoint.seq) && compare(p, c.checkpoint) < 0 {
		return "below the last checkpoint " + c.checkpoint.seq
	}
	if t.atShardEnd {
		return ""
	}
	if isSentinel(c.delivered.seq) {
		return "no record was delivered yet"
	}
	if compare(p, c.delivered) > 0 {
		return "beyond the last record delivered " + c.delivered.seq
	}
	return ""
}

// write makes one conditional write and returns the name of the Java
// exception the KCL would report, "" on success.
func (t *leaseTransport) write(ctx context.Context, p position) string {
	c := t.c
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return protocol.ExceptionShutdown
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := c.w.table.checkpoint(wctx, h.key, h.lease.Counter, p.seq, p.sub, nil)
	if errors.Is(err, errConditionFailed) && c.w.appliedAnyway(wctx, h.key, h.lease.Counter, func(l Lease) bool {
		return l.Checkpoint == p.seq && l.CheckpointSub == p.sub
	}) {
		err = nil
	}
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
		c.log.Warn().Err(err).Msg("checkpoint write failed")
		return protocol.ExceptionDependency
	}
}
