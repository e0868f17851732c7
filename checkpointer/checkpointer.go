// Package checkpointer has checkpoint policies for kcl.PerRecord: when to
// checkpoint while records are processed one by one. The per-record adapter
// checkpoints at the last finished record whenever the policy says a
// checkpoint is due, whenever the handler returns true, at shard end and on
// shutdown requested; never after the lease was lost. kcl.Concurrent counts
// records as they pass under its watermark and checkpoints the watermark
// when the policy says so, at its next ProcessRecords (or while one waits
// for room).
//
// The policies are those of kclpy: every N records, every T, both
// (whichever comes first), and manual only. A Policy is used by one shard's
// processor and is not safe for concurrent use (kcl.Concurrent calls it
// under its own lock).
package checkpointer

import "time"

// Policy decides when a checkpoint is due. The zero Policy never asks for
// one (manual checkpointing).
type Policy struct {
	// Records asks for a checkpoint after this many records since the last
	// checkpoint; 0 disables counting.
	Records int
	// Interval asks for a checkpoint when this much time passed since the
	// last checkpoint (or the first record); 0 disables the clock.
	Interval time.Duration
	// Now is the clock; nil means time.Now. Tests set it to avoid sleeping.
	Now func() time.Time

	count int
	last  time.Time
}

// EveryRecords checkpoints after every n records.
func EveryRecords(n int) *Policy { return &Policy{Records: n} }

// EveryInterval checkpoints when d has passed since the last checkpoint,
// checked after each record.
func EveryInterval(d time.Duration) *Policy { return &Policy{Interval: d} }

// Either checkpoints after n records or when d has passed, whichever comes
// first.
func Either(n int, d time.Duration) *Policy { return &Policy{Records: n, Interval: d} }

// Manual never asks for a checkpoint: only the handler's true, shard end and
// shutdown requested checkpoint (kclpy's records_per_checkpoint=0,
// checkpoint_freq_seconds=0).
func Manual() *Policy { return &Policy{} }

// RecordDone counts one finished record and reports whether a checkpoint is
// due.
func (p *Policy) RecordDone() bool {
	p.count++
	now := p.now()
	if p.last.IsZero() {
		p.last = now
	}
	return (p.Records > 0 && p.count >= p.Records) ||
		(p.Interval > 0 && now.Sub(p.last) >= p.Interval)
}

// Checkpointed tells the policy a checkpoint was taken: counting and the
// clock start again.
func (p *Policy) Checkpointed() {
	p.count = 0
	p.last = p.now()
}

func (p *Policy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}
