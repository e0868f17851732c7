package worker

import (
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kclgo/kclgo/internal/backoff"
	"github.com/kclgo/kclgo/protocol"
)

// fetched is what a retriever got from a shard: one GetRecords answer (or,
// with enhanced fan-out, one SubscribeToShard event).
type fetched struct {
	records      []types.Record
	millisBehind *int64
	end          bool               // the shard is closed and every record was fetched
	children     []types.ChildShard // at the end: the child shards, when the service said
}

// retriever reads one shard's records for a consumer: polling
// (GetShardIterator and GetRecords, below) or enhanced fan-out
// (SubscribeToShard, fanout.go). One that holds resources also has
// Close() error, called when the consumer returns.
type retriever interface {
	// fetch returns the next records. from is where to (re)start when the
	// retriever opens a new iterator: the last record handed to the
	// processor (records at or below it are skipped by the consumer). It
	// retries and backs off by itself; ok is false when the consumer must
	// stop (the lease was lost, or the worker shuts down).
	fetch(from position) (f fetched, ok bool)
}

// polling is the KCL's polling retrieval: GetRecords every
// IdleTimeBetweenReads, with back-off and jitter on throttling, and a fresh
// iterator after ExpiredIteratorException.
type polling struct {
	c        *consumer
	iter     *string
	called   bool // a GetRecords call was made: wait before the next
	failures int
}

func (p *polling) fetch(from position) (fetched, bool) {
	c := p.c
	cfg := &c.w.cfg
	throttle := backoff.Policy{Initial: cfg.IdleTimeBetweenReads, Max: 10 * time.Second, Jitter: backoff.Equal}
	for {
		if p.iter == nil {
			iter, err := c.iterator(from)
			if err != nil {
				return fetched{}, false
			}
			p.iter = iter
		} else if p.called && !c.pause(cfg.IdleTimeBetweenReads) {
			return fetched{}, false
		}
		p.called = true
		start := time.Now()
		out, err := cfg.Kinesis.GetRecords(c.ctx, &kinesis.GetRecordsInput{ShardIterator: p.iter, Limit: aws.Int32(cfg.MaxRecords)})
		if err != nil {
			c.h.tel.GetRecords(c.ctx, time.Since(start), 0, err, isThrottle(err))
			if c.lostNow() {
				return fetched{}, false
			}
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				c.log.Info().Msg("shard iterator expired; getting a fresh one")
				p.iter, p.called = nil, false
				continue
			}
			p.failures++
			ev := c.log.Warn()
			if isThrottle(err) {
				ev = c.log.Info()
			}
			ev.Err(err).Int("attempt", p.failures).Msg("GetRecords failed; backing off")
			if !c.pause(throttle.Delay(p.failures)) {
				return fetched{}, false
			}
			p.called = false
			continue
		}
		c.h.tel.GetRecords(c.ctx, time.Since(start), len(out.Records), nil, false)
		c.h.tel.BehindLatest(c.ctx, out.MillisBehindLatest) // also for a read the processor never sees
		p.failures = 0
		p.iter = out.NextShardIterator
		return fetched{records: out.Records, millisBehind: out.MillisBehindLatest, end: out.NextShardIterator == nil, children: out.ChildShards}, true
	}
}

// iterator returns a shard iterator at p: AT_SEQUENCE_NUMBER of a sequence
// number (records at or below p are then skipped), or the sentinel's
// iterator type.
func (c *consumer) iterator(p position) (*string, error) {
	cfg := &c.w.cfg
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(c.h.key)}
	if cfg.StreamARN != "" {
		in.StreamARN = aws.String(cfg.StreamARN)
	} else {
		in.StreamName = aws.String(cfg.StreamName)
	}
	switch p.seq {
	case protocol.SentinelTrimHorizon, "":
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	case protocol.SentinelLatest:
		in.ShardIteratorType = types.ShardIteratorTypeLatest
	case protocol.SentinelAtTimestamp:
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(cfg.InitialTimestamp)
	default:
		in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		in.StartingSequenceNumber = aws.String(p.seq)
	}
	policy := backoff.Policy{Initial: 200 * time.Millisecond, Max: 10 * time.Second, Jitter: backoff.Equal}
	for attempt := 1; ; attempt++ {
		out, err := cfg.Kinesis.GetShardIterator(c.ctx, in)
		if err == nil {
			return out.ShardIterator, nil
		}
		if c.lostNow() {
			return nil, err
		}
		c.log.Warn().Err(err).Str("at", p.seq).Int("attempt", attempt).Msg("GetShardIterator failed; backing off")
		if !c.pause(policy.Delay(attempt)) {
			return nil, err
		}
	}
}
