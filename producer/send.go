package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

func (p *Producer) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// loop starts PutRecords calls when records are due, until stop.
func (p *Producer) loop() {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		next := p.dispatch(time.Now())
		p.mu.Unlock()
		d := time.Hour
		if !next.IsZero() {
			d = max(time.Until(next), 0)
		}
		timer.Reset(d)
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.stop:
			return
		}
	}
}

// dispatch starts as many PutRecords calls as are due and allowed, under
// p.mu, and returns when it should run next (zero: when poked).
func (p *Producer) dispatch(now time.Time) time.Time {
	force := p.flushers > 0 || p.closing || p.pressure.Load()
	for p.inflight < p.cfg.MaxInFlight {
		batch := p.buildBatch(now, force)
		if len(batch) == 0 {
			break
		}
		p.inflight++
		p.wg.Add(1)
		go p.send(batch)
	}
	if p.inflight >= p.cfg.MaxInFlight {
		return time.Time{} // a completing call pokes the loop
	}
	var next time.Time
	for _, s := range p.order {
		if s.inflight || s.empty() {
			continue
		}
		t := s.oldest().Add(p.cfg.Linger)
		if force {
			t = now
		}
		if s.retryAt.After(t) {
			t = s.retryAt
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// buildBatch takes the entries of one PutRecords call, under p.mu.
// With force, every shard's records are due.
func (p *Producer) buildBatch(now time.Time, force bool) []*entry {
	due, readyN, readyB := false, 0, 0
	for _, s := range p.order {
		if s.inflight || s.empty() || s.retryAt.After(now) {
			continue
		}
		if force || !s.oldest().Add(p.cfg.Linger).After(now) {
			due = true
			break
		}
		readyN += len(s.ready)
		readyB += s.readyB
	}
	if !due && readyN < p.cfg.BatchMaxRecords && readyB < p.cfg.BatchMaxBytes {
		return nil
	}
	var batch []*entry
	bytes := 0
	n := len(p.order)
	for k := 0; k < n && len(batch) < p.cfg.BatchMaxRecords; k++ {
		s := p.order[(p.rr+k)%n]
		if s.inflight || s.empty() || s.retryAt.After(now) {
			continue
		}
		if force || !s.oldest().Add(p.cfg.Linger).After(now) {
			p.closeAggregate(s)
		}
		took, tookB := 0, 0
		for took < len(s.ready) && len(batch)+took < p.cfg.BatchMaxRecords &&
			(len(batch)+took == 0 || bytes+tookB+s.ready[took].size() <= p.cfg.BatchMaxBytes) {
			tookB += s.ready[took].size()
			took++
		}
		if took > 0 {
			for _, e := range s.take(took) {
				e.shard = s
				batch = append(batch, e)
			}
			bytes += tookB
			s.inflight = true
		}
	}
	p.rr++
	return batch
}

// send makes one PutRecords call and hands the result to complete.
func (p *Producer) send(batch []*entry) {
	defer p.wg.Done()
	in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(batch))}
	if p.cfg.StreamARN != "" {
		in.StreamARN = aws.String(p.cfg.StreamARN)
	} else {
		in.StreamName = aws.String(p.cfg.StreamName)
	}
	info := BatchInfo{Entries: len(batch)}
	for i, e := range batch {
		in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.pk)}
		if e.ehk != "" {
			in.Records[i].ExplicitHashKey = aws.String(e.ehk)
		}
		info.UserRecords += len(e.recs)
		info.Bytes += e.size()
	}
	ctx, cancel := context.WithTimeout(p.sendCtx, p.cfg.RequestTimeout)
	start := time.Now()
	out, err := p.client.PutRecords(ctx, in)
	info.Duration = time.Since(start)
	cancel()
	p.stats.requests.Add(1)
	if err == nil && len(out.Records) != len(batch) {
		err = fmt.Errorf("producer: PutRecords returned %d results for %d entries", len(out.Records), len(batch))
	}
	if err != nil {
		err = fmt.Errorf("producer: PutRecords: %w", err)
		info.Failed, info.Err = len(batch), err
	}
	var misrouted bool
	if err == nil {
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				info.Failed++
			} else if aws.ToString(r.ShardId) != batch[i].shard.id {
				misrouted = true
			}
		}
	}
	if misrouted {
		p.refreshShards()
	}
	failed := p.complete(batch, out, err)
	if p.cfg.OnBatch != nil {
		p.cfg.OnBatch(info)
	}
	p.report(failed)
	p.poke()
}

// complete settles a batch's entries: delivered, retried or failed. It
// returns the records that failed, to report without the lock.
func (p *Producer) complete(batch []*entry, out *kinesis.PutRecordsOutput, callErr error) []*FailedRecord {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	var failed []*FailedRecord
	var retry []*entry // in batch order
	var reroute []*userRecord
	var doneN, doneBytes int64
	finish := func(r *userRecord, err error) {
		doneN++
		doneBytes += r.size()
		if p.outstanding[r.gen]--; p.outstanding[r.gen] == 0 {
			delete(p.outstanding, r.gen)
		}
		if err != nil {
			failed = append(failed, &FailedRecord{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data, Attempts: r.attempts, Err: err})
		}
	}
	shardFailed := map[*shard]bool{}
	for i, e := range batch {
		for _, r := range e.recs {
			r.attempts++
		}
		err := callErr
		if err == nil {
			if res := out.Records[i]; res.ErrorCode != nil {
				err = &EntryError{Code: aws.ToString(res.ErrorCode), Message: aws.ToString(res.ErrorMessage)}
			} else if actual := aws.ToString(res.ShardId); actual != e.shard.id && e.agg && !p.covers(actual, e.recs) {
				// Landed on a shard whose KCL consumers would drop some of
				// its user records: send them again, routed anew.
				p.stats.misrouted.Add(int64(len(e.recs)))
				for _, r := range e.recs {
					if now.Before(r.deadline) {
						reroute = append(reroute, r)
					} else {
						finish(r, fmt.Errorf("%w after %d attempts: %w", ErrExpired, r.attempts, errMisrouted(actual, e.shard.id)))
					}
				}
				continue
			}
		}
		if err == nil {
			p.stats.entriesDelivered.Add(1)
			p.stats.recordsDelivered.Add(int64(len(e.recs)))
			for _, r := range e.recs {
				p.stats.bytesDelivered.Add(r.size())
				finish(r, nil)
			}
			continue
		}
		shardFailed[e.shard] = true
		e.lastErr = err
		switch {
		case p.aborted:
			for _, r := range e.recs {
				finish(r, fmt.Errorf("%w: %w", ErrClosed, err))
			}
		case permanent(err):
			for _, r := range e.recs {
				finish(r, err)
			}
		case !now.Before(e.recs[0].deadline):
			for _, r := range e.recs {
				finish(r, fmt.Errorf("%w after %d attempts: %w", ErrExpired, r.attempts, err))
			}
		default:
			retry = append(retry, e)
		}
	}
	// Put retried entries back in front of their shard's queue, in order.
	byShard := map[*shard][]*entry{}
	for _, e := range retry {
		p.stats.retries.Add(int64(len(e.recs)))
		if e.shard.stale {
			reroute = append(reroute, e.recs...)
			continue
		}
		byShard[e.shard] = append(byShard[e.shard], e)
	}
	for s, es := range byShard {
		s.pushFront(es)
	}
	seen := map[*shard]bool{}
	for _, e := range batch {
		s := e.shard
		if seen[s] {
			continue
		}
		seen[s] = true
		s.inflight = false
		if shardFailed[s] {
			s.attempts++
			s.retryAt = now.Add(p.backoff(s.attempts))
		} else {
			s.attempts = 0
			s.retryAt = time.Time{}
		}
	}
	for _, r := range reroute {
		p.route(r)
	}
	p.settle(doneN, doneBytes, failed)
	return failed
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

// backoff is the delay before attempt n+1 of a shard: exponential with
// jitter in [d/2, d].
func (p *Producer) backoff(n int) time.Duration {
	d := p.cfg.RetryBaseDelay << min(n-1, 20)
	if d > p.cfg.RetryMaxDelay || d <= 0 {
		d = p.cfg.RetryMaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// permanent reports whether err will not go away by retrying.
func permanent(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ResourceNotFoundException", "ValidationException", "InvalidArgumentException",
			"AccessDeniedException", "KMSAccessDeniedException", "KMSDisabledException",
			"KMSNotFoundException", "KMSInvalidStateException", "UnrecognizedClientException":
			return true
		}
	}
	return false
}

// report hands failed records to OnFailure.
func (p *Producer) report(failed []*FailedRecord) {
	if p.cfg.OnFailure == nil {
		return
	}
	for _, f := range failed {
		p.cfg.OnFailure(f)
	}
}
