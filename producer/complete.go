package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/kclgo/kclgo/internal/backoff"
)

// What becomes of a PutRecords call's entries, in steps under p.mu:
// classify each entry (delivered, failed for good, to retry, or landed on
// another shard than predicted), requeue the entries to retry (rerouting
// those whose shard is gone), and back off the shards that were throttled.
// Then, without the lock, the hooks and callbacks run, and only after them
// settle, the one step abort shares, lets the records leave the buffer: so
// Flush and Stats never run ahead of OnFailure and OnResult.
//
// Which errors do what:
//   - Throttling (an entry's ProvisionedThroughputExceededException, or a
//     call failing with ProvisionedThroughputExceededException,
//     ThrottlingException, LimitExceededException or KMSThrottlingException)
//     slows the shard down: none of its records is sent until its backoff
//     ends, and the backoff grows with each consecutive throttled call.
//   - Any other failure of an entry (InternalFailure) or of a whole call
//     (a 5xx, a reset connection, a timeout) retries only the entries
//     concerned, each after its own backoff growing with its own failures;
//     the shard's other records go on being sent.
//   - Permanent errors (see permanent) fail the records at once; a record
//     whose RecordTTL is over when an attempt fails fails with ErrExpired.

// outcome gathers the records that left the buffer, for report and settle.
type outcome struct {
	n, bytes int64           // records delivered or failed, and their size
	gens     []genCount      // how many of them by flush generation, in runs
	failed   []*FailedRecord // the failed ones, to report
	results  []Result        // every one, when Config.OnResult is set
}

// genCount is a run of records of one flush generation.
type genCount struct {
	gen uint64
	n   int
}

// leave counts r as leaving the buffer.
func (o *outcome) leave(r *userRecord) {
	o.n++
	o.bytes += r.size()
	if k := len(o.gens); k > 0 && o.gens[k-1].gen == r.gen {
		o.gens[k-1].n++
	} else {
		o.gens = append(o.gens, genCount{r.gen, 1})
	}
}

// callInfo is when a PutRecords call ran, for Attempt.
type callInfo struct {
	start time.Time
	dur   time.Duration
}

// deliver counts e as stored by Kinesis as res says.
func (p *Producer) deliver(o *outcome, e *entry, res *types.PutRecordsResultEntry) {
	p.stats.entriesDelivered.Add(1)
	p.stats.recordsDelivered.Add(int64(len(e.recs)))
	bytes := o.bytes
	for i, r := range e.recs {
		o.leave(r)
		if p.cfg.OnResult != nil {
			rs := p.result(e, r, nil)
			rs.ShardID, rs.SequenceNumber = aws.ToString(res.ShardId), aws.ToString(res.SequenceNumber)
			if e.agg {
				rs.Aggregated, rs.SubSequenceNumber = true, int64(i)
			}
			o.results = append(o.results, rs)
		}
	}
	p.stats.bytesDelivered.Add(o.bytes - bytes)
}

// fail counts r, of entry e, as failed for good with err.
func (p *Producer) fail(o *outcome, e *entry, r *userRecord, err error) {
	p.tel.Failed(context.Background(), 1, metricCode(err))
	o.leave(r)
	o.failed = append(o.failed, &FailedRecord{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data,
		Attempts: r.attempts, Err: err, Tag: r.tag})
	if p.cfg.OnResult != nil {
		o.results = append(o.results, p.result(e, r, err))
	}
}

func (p *Producer) result(e *entry, r *userRecord, err error) Result {
	return Result{Tag: r.tag, PartitionKey: r.pk, ExplicitHashKey: r.ehk, Attempts: attemptsOf(e, r), Err: err}
}

// attemptsOf returns r's attempts: those it made in earlier entries, then
// e's. The records of an entry share e's (capacity-capped) slice.
func attemptsOf(e *entry, r *userRecord) []Attempt {
	if len(r.history) == 0 {
		return e.history[:len(e.history):len(e.history)]
	}
	return append(r.history[:len(r.history):len(r.history)], e.history...)
}

// disband hands e's attempts to its records before they leave it to be
// routed anew.
func disband(e *entry) {
	if len(e.history) == 0 {
		return
	}
	for _, r := range e.recs {
		r.history = attemptsOf(e, r)
	}
	e.history = nil
}

// misroute is an aggregate that landed on another shard than predicted; it
// is resolved once the shard map was re-read.
type misroute struct {
	e      *entry
	actual string // the shard it landed on
	res    types.PutRecordsResultEntry
}

// verdict is what classify decided for a call's entries.
type verdict struct {
	retry     []*entry   // in batch order
	misrouted []misroute // aggregates only: a plain record is delivered where it landed
	throttled map[*shard]bool
	outdated  *shardMap // the map, when an entry landed on a shard that says it is out of date
}

// complete classifies a batch's entries, requeues the ones to retry and
// frees the batch's shards, backing off the throttled ones. It returns what
// left the buffer (to report, then settle), the aggregates that landed on an
// unexpected shard, which stay buffered until resolveMisrouted, and the
// shard map when it should be re-read first (see outdatedBy), else nil.
func (p *Producer) complete(batch []*entry, out *kinesis.PutRecordsOutput, callErr error, c callInfo) (outcome, []misroute, *shardMap) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	var o outcome
	v := p.classify(&o, batch, out, callErr, c, now)
	p.requeue(v.retry)
	p.backOff(batch, v.throttled, now)
	return o, v.misrouted, v.outdated
}

// classify sorts a call's entries, under p.mu: delivered ones and those
// failed for good go to o, the rest to the verdict.
func (p *Producer) classify(o *outcome, batch []*entry, out *kinesis.PutRecordsOutput, callErr error, c callInfo, now time.Time) verdict {
	v := verdict{throttled: map[*shard]bool{}}
	track := p.cfg.OnResult != nil
	for i, e := range batch {
		err := callErr
		var res *types.PutRecordsResultEntry
		if err == nil {
			res = &out.Records[i]
			if res.ErrorCode != nil {
				err = &EntryError{Code: aws.ToString(res.ErrorCode), Message: aws.ToString(res.ErrorMessage)}
			}
		}
		for _, r := range e.recs {
			r.attempts++
		}
		if track {
			e.history = append(e.history, Attempt{Start: c.start, Duration: c.dur, ShardID: e.shard.id, Err: err})
		}
		if err == nil {
			if actual := aws.ToString(res.ShardId); actual != e.shard.id {
				if p.outdatedBy(e, actual) {
					v.outdated = p.smap
				}
				if e.agg {
					v.misrouted = append(v.misrouted, misroute{e, actual, *res})
					continue // resolved by resolveMisrouted
				}
			}
			p.deliver(o, e, res)
			continue
		}
		e.lastErr = err
		slow := throttled(err)
		if slow {
			v.throttled[e.shard] = true
		}
		switch {
		case p.aborted:
			for _, r := range e.recs {
				p.fail(o, e, r, fmt.Errorf("%w: %w", ErrClosed, err))
			}
		case permanent(err):
			for _, r := range e.recs {
				p.fail(o, e, r, err)
			}
		case !now.Before(e.recs[0].deadline):
			for _, r := range e.recs {
				p.fail(o, e, r, fmt.Errorf("%w after %d attempts: %w", ErrExpired, r.attempts, err))
			}
		default:
			p.tel.Retried(context.Background(), len(e.recs), metricCode(err))
			e.attempts++
			e.notBefore = now // a throttled shard's own backoff holds it
			if !slow {
				e.notBefore = now.Add(p.retryPolicy().Delay(e.attempts))
			}
			v.retry = append(v.retry, e)
		}
	}
	return v
}

// requeue gives entries to retry back to their shard, to send when their
// backoff ends, under p.mu; those of a shard that is gone are routed anew.
func (p *Producer) requeue(retry []*entry) {
	for _, e := range retry {
		p.stats.retries.Add(int64(len(e.recs)))
		if e.shard.stale {
			disband(e)
			p.reroute(e.recs)
			continue
		}
		e.shard.delayed = append(e.shard.delayed, e)
	}
}

// reroute routes records again, by the current shard map, under p.mu.
func (p *Producer) reroute(recs []*userRecord) {
	for _, r := range recs {
		p.route(r)
	}
}

// backOff frees the batch's shards for the next call, under p.mu: a
// throttled shard waits, exponentially longer per consecutive throttled
// call; the others may send again at once.
func (p *Producer) backOff(batch []*entry, throttled map[*shard]bool, now time.Time) {
	for _, e := range batch {
		s := e.shard
		if !s.inflight {
			continue // seen
		}
		s.inflight = false
		if throttled[s] {
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

// throttled reports whether err says the shard or the stream is over its
// limits.
func throttled(err error) bool {
	var ee *EntryError
	if errors.As(err, &ee) {
		return ee.Code == "ProvisionedThroughputExceededException"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "LimitExceededException",
			"KMSThrottlingException":
			return true
		}
	}
	return false
}

// outdatedBy reports whether entry e, which landed on shard actual, not the
// one predicted, says the shard map is out of date, under p.mu: the shard is
// new to the map, or open in it (a map read mid-reshard, with a gap or an
// overlap). It does not when e was predicted by a map replaced since (the
// new one already knows better), nor when the map knows the shard to be
// closed, which a re-read would not change: the stream routed the put before
// the reshard took effect there, or it is an emulator that keeps storing on
// a split shard's parent (moto), where re-reading the map on every such put
// made a ListShards call every ShardMapMinInterval for as long as the
// producer ran.
func (p *Producer) outdatedBy(e *entry, actual string) bool {
	if e.shard.stale {
		return false
	}
	if _, known := p.smap.all[actual]; !known {
		return true
	}
	_, open := p.shards[actual]
	return open
}

// resolveMisrouted settles the aggregates that landed on another shard than
// predicted, after the shard map was re-read if they said it was outdated:
// one whose shard holds every user record in it is delivered; the user
// records of the others are routed anew and sent again (a KCL consumer of
// that shard would drop them), or fail when their TTL is over. What leaves
// the buffer is added to o.
func (p *Producer) resolveMisrouted(ms []misroute, o *outcome) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range ms {
		if p.covers(m.actual, m.e.recs) {
			p.deliver(o, m.e, &m.res)
			continue
		}
		p.stats.misrouted.Add(int64(len(m.e.recs)))
		err := errMisrouted(m.actual, m.e.shard.id)
		if n := len(m.e.history); n > 0 {
			m.e.history[n-1].Err = err
		}
		for _, r := range m.e.recs {
			if !now.Before(r.deadline) {
				p.fail(o, m.e, r, fmt.Errorf("%w after %d attempts: %w", ErrExpired, r.attempts, err))
			}
		}
		disband(m.e)
		for _, r := range m.e.recs {
			if now.Before(r.deadline) {
				p.route(r)
			}
		}
	}
}

func errMisrouted(actual, predicted string) error {
	return fmt.Errorf("%w: sent for shard %s, stored on %s", ErrMisrouted, predicted, actual)
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

// report hands failed records to OnFailure and results to OnResult, without
// the lock.
func (p *Producer) report(o *outcome) {
	if p.cfg.OnFailure != nil {
		for _, f := range o.failed {
			p.cfg.OnFailure(f)
		}
	}
	if p.cfg.OnResult != nil {
		for i := range o.results {
			p.cfg.OnResult(&o.results[i])
		}
	}
}

// settle accounts for the records in o that left the buffer, delivered or
// failed, once they were reported: it frees their room, wakes Puts and
// Flushes waiting for progress, counts the failures, and keeps the failed
// records for Close when there is no OnFailure callback. It takes p.mu.
func (p *Producer) settle(o *outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o.n > 0 {
		for _, g := range o.gens {
			if p.outstanding[g.gen] -= g.n; p.outstanding[g.gen] == 0 {
				delete(p.outstanding, g.gen)
			}
		}
		p.pressure.Store(false) // a Put still waiting sets it again
		p.buf.release(o.n, o.bytes)
		close(p.progress)
		p.progress = make(chan struct{})
	}
	p.stats.failures.Add(int64(len(o.failed)))
	if p.cfg.OnFailure == nil {
		p.failed = append(p.failed, o.failed...)
	}
}
