package worker

import (
	"context"
	"fmt"
	"math/big"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/deagg/kinesissdk"
	"github.com/kclgo/kclgo/internal/backoff"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// position is a place in a shard: a sequence number and a sub-sequence
// number (the index of a user record within a KPL aggregate).
type position struct {
	seq string
	sub int64
}

// consumer processes one held lease's shard. It is the native worker's
// path of a record from the wire to the processor and back: GetRecords,
// deaggregation, the resume filter, ProcessRecords, the checkpoint write.
type consumer struct {
	w   *worker
	h   *held
	r   *kcl.ActionRunner // calls the processor as kcl.Run does
	log zerolog.Logger

	ctx    context.Context // the processor's: cancelled when the lease is lost
	cancel context.CancelCauseFunc

	checkpoint position // as last written (or read from the lease)
	resume     position // skip user records at or below this
	delivered  position // the last record handed to the processor
	hashRange  *[2]*big.Int
	lostCalled bool // LeaseLost was called
	records    []kcl.Record
	users      []deagg.UserRecord
}

// consume runs the shard until it ends, the lease is lost, the worker
// shuts down, or the processor fails for good.
func (w *worker) consume(h *held) {
	h.mu.Lock()
	l := h.lease
	h.mu.Unlock()
	c := &consumer{w: w, h: h, log: h.log}
	c.ctx, c.cancel = context.WithCancelCause(c.log.WithContext(context.Background()))
	defer c.cancel(nil)
	go func() {
		select {
		case <-h.lostCh:
			// In-flight work of a lost lease stops; a checkpoint tried
			// now fails with ErrShutdown, as a failed write would.
			c.cancel(fmt.Errorf("worker: shard %s: the lease was lost: %w", h.key, kcl.ErrShutdown))
		case <-h.done:
		}
	}()
	if l.Checkpoint == protocol.SentinelShardEnd {
		h.mu.Lock()
		h.finished = true
		h.mu.Unlock()
		return // nothing left; the lease is kept until its children are done
	}
	if !c.waitForParents(l) {
		return
	}
	c.checkpoint = position{seq: l.Checkpoint, sub: l.CheckpointSub}
	c.resume = c.checkpoint
	c.delivered = c.checkpoint
	c.hashRange = parseRange(l.StartingHashKey, l.EndingHashKey)
	c.r = kcl.NewActionRunner(w.factory(l.Key), kcl.WithLogger(w.log),
		kcl.WithProcessorRetry(w.cfg.ProcessorRetry), kcl.WithCheckpointRetry(w.cfg.CheckpointRetry),
		kcl.WithMeterProvider(w.cfg.MeterProvider), kcl.WithMetricAttributes(w.attrs...))
	in := kcl.InitializeInput{ShardID: l.Key, SequenceNumber: l.Checkpoint, SubSequenceNumber: l.CheckpointSub}
	if !c.done(c.r.Initialize(c.ctx, in)) {
		return
	}
	c.run()
}

// waitForParents blocks until every parent lease is at SHARD_END or gone
// (the Java KCL's BlockOnParentShardTask). It returns false if the lease
// was lost or the worker stops meanwhile.
func (c *consumer) waitForParents(l Lease) bool {
	for {
		pending := ""
		for _, p := range l.Parents {
			pl, ok, err := c.w.table.get(c.ctx, p)
			if err != nil {
				pending = p
				c.log.Warn().Err(err).Str("parent", p).Msg("cannot read the parent's lease; retrying")
				break
			}
			if ok && pl.Checkpoint != protocol.SentinelShardEnd {
				pending = p
				break
			}
		}
		if pending == "" {
			return true
		}
		c.log.Debug().Str("parent", pending).Msg("waiting for the parent shard to end")
		select {
		case <-c.h.lostCh:
			return false
		case <-c.h.stopCh:
			return false
		case <-time.After(c.w.cfg.ParentShardPollInterval):
		}
	}
}

// run is the read loop: fetch, deaggregate and filter, ProcessRecords, and
// at the shard's end the lineage steps.
func (c *consumer) run() {
	cfg := &c.w.cfg
	r := c.retriever()
	if cl, ok := r.(interface{ Close() error }); ok {
		defer cl.Close()
	}
	for {
		if c.stopRequested() {
			return
		}
		f, ok := r.fetch(c.delivered)
		if !ok {
			return
		}
		batch, err := c.userRecords(f.records)
		if err != nil {
			c.log.Error().Err(err).Msg("cannot read records")
		}
		if len(batch) > 0 || cfg.CallProcessRecordsEvenForEmptyRecordList {
			in := kcl.ProcessRecordsInput{Records: batch, MillisBehindLatest: -1}
			if f.millisBehind != nil {
				in.MillisBehindLatest = *f.millisBehind
			}
			last := c.delivered
			if len(batch) > 0 {
				last = position{seq: batch[len(batch)-1].SequenceNumber, sub: batch[len(batch)-1].SubSequenceNumber}
			}
			prev := c.delivered
			c.delivered = last
			if !c.done(c.r.ProcessRecords(c.ctx, in, &leaseTransport{c: c})) {
				c.delivered = prev
				return
			}
			c.resume = last
		}
		if f.end {
			c.shardEnded(f.children)
			return
		}
	}
}

// stopRequested handles a lost lease or a graceful shutdown between two
// batches, calling the processor's LeaseLost or ShutdownRequested. It
// returns true when the consumer must stop.
func (c *consumer) stopRequested() bool {
	if c.lostNow() {
		return true
	}
	select {
	case <-c.h.stopCh:
		ctx, cancel := c.lastWords()
		defer cancel()
		c.done(c.r.ShutdownRequested(ctx, &leaseTransport{c: c}))
		return true
	default:
		return false
	}
}

// lostNow calls LeaseLost if the lease was lost; it reports whether it was.
func (c *consumer) lostNow() bool {
	if !c.h.isLost() {
		return false
	}
	if c.lostCalled || c.r == nil {
		return true
	}
	c.lostCalled = true
	ctx, cancel := c.lastWords()
	defer cancel()
	if err := c.r.LeaseLost(ctx); err != nil {
		c.log.Warn().Err(err).Msg("the processor failed in LeaseLost")
	}
	return true
}

// lastWords is the context of LeaseLost and ShutdownRequested: not the
// processor's (cancelled when the lease is lost, or about to end), but one
// bounded by ShutdownTimeout.
func (c *consumer) lastWords() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.log.WithContext(context.Background()), c.w.cfg.ShutdownTimeout)
}

// pause waits d between reads; false when the consumer must stop.
func (c *consumer) pause(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-c.h.lostCh:
		c.lostNow()
		return false
	case <-c.h.stopCh:
		return !c.stopRequested()
	}
}

// userRecords deaggregates a GetRecords answer into the processor's records,
// dropping the user records at or below the resume position (a restart at a
// checkpoint inside an aggregate resumes at the next user record) and, as
// the Java KCL does, the user records of an aggregate whose hash key lies
// outside the shard's range. A record that looks aggregated but is corrupt
// is delivered whole, as the KCL does.
func (c *consumer) userRecords(in []types.Record) ([]kcl.Record, error) {
	c.users = c.users[:0]
	var err error
	for i := range in {
		c.users, err = deagg.AppendRecord(c.users, kinesissdk.ToRecord(&in[i]), deagg.PassThroughCorrupt())
		if err != nil {
			return nil, fmt.Errorf("worker: shard %s: %w", c.h.key, err)
		}
	}
	out := c.records[:0]
	for i := range c.users {
		u := &c.users[i]
		pos := position{seq: u.SequenceNumber, sub: int64(u.SubSequenceNumber)}
		if !isSentinel(c.resume.seq) && compare(pos, c.resume) <= 0 {
			continue
		}
		if u.Aggregated && c.hashRange != nil && !inRange(u, c.hashRange) {
			continue
		}
		out = append(out, kcl.Record{
			Data: u.Data, PartitionKey: u.PartitionKey, SequenceNumber: u.SequenceNumber,
			SubSequenceNumber: int64(u.SubSequenceNumber), ApproximateArrivalTimestamp: u.ApproximateArrivalTimestamp,
		})
	}
	c.records = out
	return out, nil
}

// shardEnded handles the end of a closed shard: it creates the child
// leases, writes childShardIds on the parent, calls ShardEnded and makes
// sure SHARD_END is checkpointed (the Java KCL's ShutdownTask).
func (c *consumer) shardEnded(children []types.ChildShard) {
	cfg := &c.w.cfg
	if len(children) == 0 {
		// An emulator (or an old endpoint) that sends no ChildShards: find
		// the children by listing the shards.
		shards, err := listShards(c.ctx, cfg.Kinesis, cfg.StreamName, cfg.StreamARN)
		if err == nil {
			for _, s := range shards {
				for _, p := range s.parents {
					if p == c.h.key {
						children = append(children, types.ChildShard{ShardId: aws.String(s.id), ParentShards: s.parents,
							HashKeyRange: &types.HashKeyRange{StartingHashKey: aws.String(s.startKey), EndingHashKey: aws.String(s.endKey)}})
					}
				}
			}
		}
	}
	var ids []string
	for _, ch := range children {
		l := Lease{Key: aws.ToString(ch.ShardId), Checkpoint: protocol.SentinelTrimHorizon, Parents: ch.ParentShards}
		if ch.HashKeyRange != nil {
			l.StartingHashKey, l.EndingHashKey = aws.ToString(ch.HashKeyRange.StartingHashKey), aws.ToString(ch.HashKeyRange.EndingHashKey)
		}
		ids = append(ids, l.Key)
		policy := backoff.Policy{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
		for attempt := 1; ; attempt++ {
			created, err := c.w.table.create(c.ctx, l)
			if err == nil {
				if created {
					c.log.Info().Str("child", l.Key).Strs("parents", l.Parents).Msg("created child lease")
				}
				break
			}
			c.log.Warn().Err(err).Str("child", l.Key).Msg("cannot create the child lease; retrying")
			if !c.pause(policy.Delay(attempt)) {
				return
			}
		}
	}
	if len(ids) > 0 {
		if err := c.w.table.setChildren(c.ctx, c.h.key, ids); err != nil {
			c.log.Warn().Err(err).Msg("cannot write childShardIds")
		}
	}
	c.delivered = position{seq: protocol.SentinelShardEnd}
	if c.done(c.r.ShardEnded(c.ctx, &leaseTransport{c: c, atShardEnd: true})) {
		c.h.mu.Lock()
		c.h.finished = true
		c.h.mu.Unlock()
		c.log.Info().Msg("shard ended")
	}
}

// done classifies what an action of the ActionRunner returned: true when
// the processor succeeded. A processor that failed for good (an
// *kcl.ActionError) has its failure reported and its lease released
// unacknowledged by the loop, unless the lease was lost meanwhile (then the
// processor gets LeaseLost).
func (c *consumer) done(err error) bool {
	if err == nil {
		return true
	}
	if c.h.isLost() {
		c.log.Info().Err(err).Msg("the processor stopped after the lease was lost")
		c.lostNow()
		return false
	}
	c.h.mu.Lock()
	c.h.failed = true
	c.h.mu.Unlock()
	c.w.reportFailure(err)
	c.log.Error().Err(err).Msg("releasing the lease unacknowledged")
	return false
}

// compare orders two positions in a shard; sequence numbers are decimal
// strings without leading zeros, so a longer one is larger.
func compare(a, b position) int {
	if len(a.seq) != len(b.seq) {
		if len(a.seq) < len(b.seq) {
			return -1
		}
		return 1
	}
	if a.seq != b.seq {
		if a.seq < b.seq {
			return -1
		}
		return 1
	}
	switch {
	case a.sub < b.sub:
		return -1
	case a.sub > b.sub:
		return 1
	}
	return 0
}

func parseRange(start, end string) *[2]*big.Int {
	s, ok1 := new(big.Int).SetString(start, 10)
	e, ok2 := new(big.Int).SetString(end, 10)
	if !ok1 || !ok2 {
		return nil
	}
	return &[2]*big.Int{s, e}
}

// inRange reports whether a user record's hash key (its explicit hash key,
// or the MD5 of its partition key as a 128-bit number) lies in r.
func inRange(u *deagg.UserRecord, r *[2]*big.Int) bool {
	var k *big.Int
	if u.HasExplicitHashKey {
		var ok bool
		if k, ok = new(big.Int).SetString(u.ExplicitHashKey, 10); !ok {
			return true
		}
	} else {
		k, _ = new(big.Int).SetString(deagg.HashKey(u.PartitionKey), 10)
	}
	return k.Cmp(r[0]) >= 0 && k.Cmp(r[1]) <= 0
}
