package producer

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kclgo/kclgo/internal/backoff"
)

// What becomes of a PutRecords call's entries, in four steps under p.mu:
// classify each entry (delivered, failed for good, to retry, or landed on
// another shard than predicted), reroute the records whose shard is gone,
// requeue the entries to retry in front of their shard's queue, and back off
// the shards that failed. Records that leave the buffer, delivered or failed,
// go through settle, the one step abort shares.

// outcome gathers the records that left the buffer, for settle.
type outcome struct {
	done   []*userRecord   // delivered or failed
	failed []*FailedRecord // the failed ones, to report
}

// deliver counts e as accepted by Kinesis.
func (p *Producer) deliver(o *outcome, e *entry) {
	p.stats.entriesDelivered.Add(1)
	p.stats.recordsDelivered.Add(int64(len(e.recs)))
	for _, r := range e.recs {
		p.stats.bytesDelivered.Add(r.size())
		o.done = append(o.done, r)
	}
}

// fail counts r as failed for good with err.
func (o *outcome) fail(r *userRecord, err error) {
	o.done = append(o.done, r)
	o.failed = append(o.failed, &FailedRecord{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data, Attempts: r.attempts, Err: err})
}

// misroute is an aggregate that landed on another shard than predicted; it
// is resolved once the shard map was re-read.
type misroute struct {
	e      *entry
	actual string // the shard it landed on
}

// verdict is what classify decided for a call's entries.
type verdict struct {
	retry     []*entry // in batch order
	misrouted []misroute
	failed    map[*shard]bool // shards with a failed entry
}

// complete settles a batch's entries: delivered, retried or failed. It
// returns what left the buffer (the failed records to report without the
// lock) and the aggregates that landed on an unexpected shard, which stay
// buffered until resolveMisrouted.
func (p *Producer) complete(batch []*entry, out *kinesis.PutRecordsOutput, callErr error) (outcome, []misroute) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	var o outcome
	v := p.classify(&o, batch, out, callErr, now)
	p.requeue(v.retry)
	p.backOff(batch, v.failed, now)
	p.settle(&o)
	return o, v.misrouted
}

// classify sorts a call's entries, under p.mu: delivered ones and those
// failed for good go to o, the rest to the verdict.
func (p *Producer) classify(o *outcome, batch []*entry, out *kinesis.PutRecordsOutput, callErr error, now time.Time) verdict {
	v := verdict{failed: map[*shard]bool{}}
	for i, e := range batch {
		for _, r := range e.recs {
			r.attempts++
		}
		err := callErr
		if err == nil {
			res := out.Records[i]
			if res.ErrorCode != nil {
				err = &EntryError{Code: aws.ToString(res.ErrorCode), Message: aws.ToString(res.ErrorMessage)}
			} else if actual := aws.ToString(res.ShardId); actual != e.shard.id {
				v.misrouted = append(v.misrouted, misroute{e, actual})
				if e.agg {
					continue // resolved after the shard map is re-read
				}
			}
		}
		if err == nil {
			p.deliver(o, e)
			continue
		}
		v.failed[e.shard] = true
		e.lastErr = err
		switch {
		case p.aborted:
			for _, r := range e.recs {
				o.fail(r, fmt.Errorf("%w: %w", ErrClosed, err))
			}
		case permanent(err):
			for _, r := range e.recs {
				o.fail(r, err)
			}
		case !now.Before(e.recs[0].deadline):
			for _, r := range e.recs {
				o.fail(r, fmt.Errorf("%w after %d attempts: %w", ErrExpired, r.attempts, err))
			}
		default:
			v.retry = append(v.retry, e)
		}
	}
	return v
}

// requeue puts entries to retry back in front of their shard's queue, in
// order, under p.mu; those of a shard that is gone are routed anew.
func (p *Producer) requeue(retry []*entry) {
	byShard := map[*shard][]*entry{}
	var order []*shard
	for _, e := range retry {
		p.stats.retries.Add(int64(len(e.recs)))
		if e.shard.stale {
			p.reroute(e.recs)
			continue
		}
		if byShard[e.shard] == nil {
			order = append(order, e.shard)
		}
		byShard[e.shard] = append(byShard[e.shard], e)
	}
	for _, s := range order {
		s.pushFront(byShard[s])
	}
}

// reroute routes records again, by the current shard map, under p.mu.
func (p *Producer) reroute(recs []*userRecord) {
	for _, r := range recs {
		p.route(r)
	}
}

// backOff frees the batch's shards for the next call, under p.mu: a shard
// with a failed entry waits, exponentially longer per consecutive failed
// call; the others may send again at once.
func (p *Producer) backOff(batch []*entry, failed map[*shard]bool, now time.Time) {
	seen := map[*shard]bool{}
	for _, e := range batch {
		s := e.shard
		if seen[s] {
			continue
		}
		seen[s] = true
		s.inflight = false
		if failed[s] {
			s.attempts++
			s.retryAt = now.Add(p.retryPolicy().Delay(s.attempts))
		} else {
			s.attempts = 0
			s.retryAt = time.Time{}
		}
	}
}

// retryPolicy is the backoff of retries: from RetryBaseDelay, doubling up to
// RetryMaxDelay, with equal jitter (each wait at least half its limit).
func (p *Producer) retryPolicy() backoff.Policy {
	return backoff.Policy{Initial: p.cfg.RetryBaseDelay, Max: p.cfg.RetryMaxDelay, Jitter: backoff.Equal}
}

// resolveMisrouted settles the aggregates that landed on another shard than
// predicted, after the shard map was re-read: one whose shard holds every
// user record in it is delivered; the user records of the others are routed
// anew and sent again (a KCL consumer of that shard would drop them), or fail
// when their TTL is over. Failed records are added to o.failed.
func (p *Producer) resolveMisrouted(ms []misroute, o *outcome) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var late outcome
	for _, m := range ms {
		if !m.e.agg {
			continue // delivered: Kinesis routed the plain record itself
		}
		if p.covers(m.actual, m.e.recs) {
			p.deliver(&late, m.e)
			continue
		}
		p.stats.misrouted.Add(int64(len(m.e.recs)))
		for _, r := range m.e.recs {
			if now.Before(r.deadline) {
				p.route(r)
			} else {
				late.fail(r, fmt.Errorf("%w after %d attempts: %w", ErrExpired, r.attempts, errMisrouted(m.actual, m.e.shard.id)))
			}
		}
	}
	p.settle(&late)
	o.failed = append(o.failed, late.failed...)
}

func errMisrouted(actual, predicted string) error {
	return fmt.Errorf("producer: aggregate for shard %s landed on shard %s, which does not hold all its user records", predicted, actual)
}

// covers reports whether the shard with the given id holds every record's
// hash key, under p.mu.
func (p *Producer) covers(id string, recs []*userRecord) bool {
	rng, ok := p.smap.all[id]
	if !ok {
		return false
	}
	for _, r := range recs {
		if !rng.contains(r.hash) {
			return false
		}
	}
	return true
}

// settle accounts for the records in o that left the buffer, delivered or
// failed: it frees their room, wakes Puts and Flushes waiting for progress,
// and keeps the failed ones for Close when there is no OnFailure callback.
// The caller holds p.mu.
func (p *Producer) settle(o *outcome) {
	if len(o.done) > 0 {
		var bytes int64
		for _, r := range o.done {
			bytes += r.size()
			if p.outstanding[r.gen]--; p.outstanding[r.gen] == 0 {
				delete(p.outstanding, r.gen)
			}
		}
		p.pressure.Store(false) // a Put still waiting sets it again
		p.buf.release(int64(len(o.done)), bytes)
		close(p.progress)
		p.progress = make(chan struct{})
	}
	p.stats.failures.Add(int64(len(o.failed)))
	if p.cfg.OnFailure == nil {
		p.failed = append(p.failed, o.failed...)
	}
}
