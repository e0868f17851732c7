package kcl

import (
	"context"
	"fmt"
	"sync"

	"github.com/kclgo/kclgo/protocol"
)

// Checkpointer records the shard's progress with the daemon, which stores it
// in the lease table. After a restart or a lease move, processing resumes
// after the last checkpoint: records after it are delivered again (at least
// once), records before it never are. So checkpoint a position only once
// every record up to it is finished; a checkpoint never moves backwards.
//
// A Checkpointer is valid only during the processor method it was passed to;
// afterwards, and after the lease is lost, it returns
// [ErrCheckpointNotAllowed]. It is safe for concurrent use; calls are
// serialized, and the method's answer to the daemon waits for a checkpoint
// still in flight.
//
// A checkpoint is a round trip to the daemon, which writes DynamoDB before it
// replies; the context bounds the waits between retries, not a round trip
// under way (abandoning one would break the protocol).
type Checkpointer interface {
	// Checkpoint checkpoints after the last record delivered to the
	// processor so far (at shard end: the end of the shard).
	Checkpoint(ctx context.Context) error
	// CheckpointAt checkpoints at a record: its sequence number and
	// sub-sequence number (0 for a plain record).
	CheckpointAt(ctx context.Context, sequenceNumber string, subSequenceNumber int64) error
}

// checkpointer is the Checkpointer handed to one action.
type checkpointer struct {
	s      *session
	action string
	mu     sync.Mutex
	closed bool
	atEnd  bool // a checkpoint without position succeeded
}

func (s *session) newCheckpointer(action string) *checkpointer {
	return &checkpointer{s: s, action: action}
}

// close ends the checkpointer's validity, after waiting for a checkpoint in
// flight (from another goroutine) to finish.
func (c *checkpointer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// quiesce waits for a checkpoint in flight to finish.
func (c *checkpointer) quiesce() {
	c.mu.Lock()
	c.mu.Unlock() //nolint:staticcheck // an empty critical section: waiting is the point
}

// checkpointedEnd reports whether a checkpoint without position succeeded.
func (c *checkpointer) checkpointedEnd() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atEnd
}

// Checkpoint implements [Checkpointer].
func (c *checkpointer) Checkpoint(ctx context.Context) error {
	return c.checkpoint(ctx, nil, nil)
}

// CheckpointAt implements [Checkpointer].
func (c *checkpointer) CheckpointAt(ctx context.Context, sequenceNumber string, subSequenceNumber int64) error {
	return c.checkpoint(ctx, &sequenceNumber, &subSequenceNumber)
}

func (c *checkpointer) checkpoint(ctx context.Context, seq *string, sub *int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("%w: the checkpointer of %s was used after %s returned", ErrCheckpointNotAllowed, c.action, c.action)
	}
	if err := c.s.brokenErr(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kcl: checkpoint not sent: %w", err)
	}
	pos := ""
	if seq != nil {
		pos = fmt.Sprintf("%s/%d", *seq, *sub)
	}
	policy := c.s.opts.checkpointRetry
	for attempt := 1; ; attempt++ {
		name, err := c.roundTrip(seq, sub)
		if err != nil {
			return err
		}
		if name == "" {
			if seq == nil {
				c.atEnd = true
			}
			c.s.log.Debug().Str("position", pos).Msg("checkpointed")
			return nil
		}
		cerr := &CheckpointError{Name: name, Position: pos, Attempts: attempt}
		retryable := name == "ThrottlingException" || name == "KinesisClientLibDependencyException"
		if !retryable || attempt >= policy.MaxAttempts {
			c.s.log.Warn().Err(cerr).Msg("checkpoint failed")
			return cerr
		}
		c.s.log.Info().Err(cerr).Int("attempt", attempt).Msg("checkpoint failed; retrying")
		if err := sleep(ctx, policy.backoff(attempt)); err != nil {
			return fmt.Errorf("%w; stopped retrying: %w", cerr, err)
		}
	}
}

// roundTrip sends one checkpoint request and reads the daemon's reply,
// returning the reply's error name ("" on success). A failure to talk to the
// daemon breaks the session: the run loop stops after the processor returns.
func (c *checkpointer) roundTrip(seq *string, sub *int64) (string, error) {
	s := c.s
	if err := s.enc.Write(protocol.Checkpoint{SequenceNumber: seq, SubSequenceNumber: sub}); err != nil {
		return "", s.breakWith(fmt.Errorf("%w: sending a checkpoint: %w", ErrProtocol, err))
	}
	m, err := s.dec.Next()
	if err != nil {
		return "", s.breakWith(fmt.Errorf("%w: waiting for the daemon's checkpoint reply: %w", ErrProtocol, err))
	}
	reply, ok := m.(protocol.Checkpoint)
	if !ok {
		return "", s.breakWith(fmt.Errorf("%w: line %d: expected the daemon's checkpoint reply, got %q", ErrProtocol, s.dec.Line(), m.Action()))
	}
	return reply.Error, nil
}
