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
		if s.inflight {
			continue
		}
		if t := p.dueAt(s, now, force); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// dueAt returns when s next has something to send, zero when nothing:
// records never sent are due Linger after the oldest was Put (at once with
// force), a failed entry at its notBefore, and nothing before the shard's
// throttling backoff ends. Under p.mu.
func (p *Producer) dueAt(s *shard, now time.Time, force bool) time.Time {
	var t time.Time
	if s.lingering() {
		t = s.oldest().Add(p.cfg.Linger)
		if force {
			t = now
		}
	}
	for _, e := range s.delayed {
		if t.IsZero() || e.notBefore.Before(t) {
			t = e.notBefore
		}
	}
	if !t.IsZero() && s.retryAt.After(t) {
		t = s.retryAt
	}
	return t
}

// buildBatch takes the entries of one PutRecords call, under p.mu.
// With force, every shard's records are due. A batch is sent when some
// shard is due, or when the ready entries fill a call.
func (p *Producer) buildBatch(now time.Time, force bool) []*entry {
	due, readyN, readyB := false, 0, 0
	for _, s := range p.order {
		if s.inflight || s.empty() || s.retryAt.After(now) {
			continue
		}
		if t := p.dueAt(s, now, force); !t.After(now) {
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
	fit := func(e *entry) bool {
		if len(batch) >= p.cfg.BatchMaxRecords || (len(batch) > 0 && bytes+e.size() > p.cfg.BatchMaxBytes) {
			return false
		}
		batch = append(batch, e)
		bytes += e.size()
		return true
	}
	n := len(p.order)
	for k := 0; k < n && len(batch) < p.cfg.BatchMaxRecords; k++ {
		s := p.order[(p.rr+k)%n]
		if s.inflight || s.empty() || s.retryAt.After(now) {
			continue
		}
		before := len(batch)
		s.takeDelayed(now, fit) // retries first: they are the oldest
		if s.lingering() && (force || !s.oldest().Add(p.cfg.Linger).After(now)) {
			p.closeAggregate(s)
		}
		took := 0
		for took < len(s.ready) && fit(s.ready[took]) {
			took++
		}
		s.take(took)
		for _, e := range batch[before:] {
			e.shard = s
		}
		if len(batch) > before {
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
	out, err := p.client.PutRecords(ctx, in, putRecordsOptions)
	info.Duration = time.Since(start)
	cancel()
	p.stats.requests.Add(1)
	if err == nil && len(out.Records) != len(batch) {
		err = fmt.Errorf("producer: PutRecords returned %d results for %d entries", len(out.Records), len(batch))
	}
	p.tel.PutRecords(context.Background(), info.Duration, err)
	if err != nil {
		err = fmt.Errorf("producer: PutRecords: %w", err)
		info.Failed, info.Err = len(batch), err
	}
	if err == nil {
		for _, r := range out.Records {
			if r.ErrorCode != nil {
				info.Failed++
			}
		}
	}
	o, misrouted, outdated := p.complete(batch, out, err, callInfo{start, info.Duration})
	if p.cfg.OnBatch != nil {
		p.cfg.OnBatch(info)
	}
	p.report(&o)
	p.settle(&o) // only now: Flush returns after the reports
	p.poke()
	if outdated != nil {
		// The shards are free and the rest settled: the refresh holds up
		// only the aggregates that wait for the new map.
		p.refreshShards(outdated)
	}
	if len(misrouted) > 0 {
		var late outcome
		p.resolveMisrouted(misrouted, &late)
		p.report(&late)
		p.settle(&late)
		p.poke()
	}
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
