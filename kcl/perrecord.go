package kcl

import (
	"context"
	"fmt"
)

// CheckpointPolicy decides when [PerRecord] checkpoints. Package
// checkpointer has the usual ones: every N records, every T, both, manual.
type CheckpointPolicy interface {
	// RecordDone counts one finished record and reports whether a
	// checkpoint is due.
	RecordDone() bool
	// Checkpointed tells the policy a checkpoint was taken.
	Checkpointed()
}

// PerRecord is a [RecordProcessor] that calls Handle once per record, in
// order, in the spirit of kclpy. It checkpoints at the last record Handle
// finished: when Handle returns true, when Policy says a checkpoint is due,
// on shutdown requested, and at shard end (the end of the shard). A
// checkpoint never names a record Handle has not finished.
//
// When Handle fails, OnError (if set) decides: it returns nil to count the
// record as finished and go on (e.g. after writing it to a dead-letter
// queue), or an error to fail the batch. A failed batch is not acknowledged:
// Run retries it (skipping the records already finished) and, if it keeps
// failing, exits so that it is delivered again after a restart.
//
// A checkpoint refused by the daemon is logged and processing goes on; the
// next checkpoint covers the same records. Only at shard end is a failed
// checkpoint an error.
//
// When ctx is done (the native worker lost the lease, or the conversation
// with the daemon broke) ProcessRecords stops before the next record and
// fails the batch: the rest of it is no longer this processor's to handle.
type PerRecord struct {
	// Handle processes one record. Returning true asks for a checkpoint
	// right after this record.
	Handle func(ctx context.Context, r Record) (checkpoint bool, err error)
	// Policy decides when to checkpoint besides Handle's requests. Nil
	// means after every batch.
	Policy CheckpointPolicy
	// OnError is called with a record Handle failed on. Nil means the
	// batch fails.
	OnError func(ctx context.Context, r Record, err error) error
	// OnInitialize, if set, is called by Initialize.
	OnInitialize func(ctx context.Context, in InitializeInput) error

	// done is the last finished record; resume is where a retried batch
	// starts again; hold stops checkpointing until the next batch after
	// the daemon said the lease is gone or no checkpoint is possible.
	done        position
	hold        bool
	resumeBatch position // first record of the batch being processed
	resumeAt    int      // records of that batch already finished
}

type position struct {
	seq string
	sub int64
	ok  bool
}

// Initialize implements [RecordProcessor].
func (p *PerRecord) Initialize(ctx context.Context, in InitializeInput) error {
	if p.OnInitialize != nil {
		return p.OnInitialize(ctx, in)
	}
	return nil
}

// ProcessRecords implements [RecordProcessor].
func (p *PerRecord) ProcessRecords(ctx context.Context, in ProcessRecordsInput) error {
	if len(in.Records) == 0 {
		return nil
	}
	first := position{seq: in.Records[0].SequenceNumber, sub: in.Records[0].SubSequenceNumber, ok: true}
	start := 0
	if first == p.resumeBatch && p.resumeAt < len(in.Records) {
		start = p.resumeAt // a retry of a batch that failed part way
	}
	p.resumeBatch, p.resumeAt = first, start
	p.hold = false
	for i := start; i < len(in.Records); i++ {
		if ctx.Err() != nil {
			// The lease was lost or the conversation broke: the rest of
			// the batch is not ours to process.
			return fmt.Errorf("kcl: batch abandoned after %d of %d records: %w", i-start, len(in.Records)-start, context.Cause(ctx))
		}
		r := in.Records[i]
		want, err := p.Handle(ctx, r)
		if err != nil && p.OnError != nil {
			err = p.OnError(ctx, r, err)
		}
		if err != nil {
			if i > start {
				// Keep what is finished; the batch fails either way.
				_ = p.checkpoint(ctx, in.Checkpointer)
			}
			return err
		}
		p.done = position{seq: r.SequenceNumber, sub: r.SubSequenceNumber, ok: true}
		p.resumeAt = i + 1
		due := p.Policy != nil && p.Policy.RecordDone()
		if want || due {
			if err := p.checkpoint(ctx, in.Checkpointer); err != nil {
				return err
			}
		}
	}
	if p.Policy == nil {
		if err := p.checkpoint(ctx, in.Checkpointer); err != nil {
			return err
		}
	}
	p.resumeBatch = position{}
	return nil
}

// checkpoint checkpoints at the last finished record; see
// checkpointOutcome for what becomes of its errors.
func (p *PerRecord) checkpoint(ctx context.Context, c Checkpointer) error {
	if !p.done.ok || p.hold {
		return nil
	}
	err := c.CheckpointAt(ctx, p.done.seq, p.done.sub)
	if p.Policy != nil {
		// Also after a refusal: asking again at every record would turn
		// a throttled table into a round trip (and its retries) per record.
		p.Policy.Checkpointed()
	}
	hold, err := checkpointOutcome(ctx, err, "per-record")
	p.hold = p.hold || hold
	return err
}

// LeaseLost implements [RecordProcessor]. No checkpoint is possible.
func (p *PerRecord) LeaseLost(ctx context.Context, in LeaseLostInput) error { return nil }

// ShardEnded implements [RecordProcessor]: it checkpoints the end of the
// shard.
func (p *PerRecord) ShardEnded(ctx context.Context, in ShardEndedInput) error {
	return in.Checkpointer.Checkpoint(ctx)
}

// ShutdownRequested implements [RecordProcessor]: it checkpoints at the last
// finished record.
func (p *PerRecord) ShutdownRequested(ctx context.Context, in ShutdownRequestedInput) error {
	p.hold = false
	return p.checkpoint(ctx, in.Checkpointer)
}
