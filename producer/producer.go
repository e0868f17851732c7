package producer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/kclgo/kclgo/deagg"
)

// Producer buffers, aggregates and sends records to one stream. It is safe
// for concurrent use. Create it with New and end it with Close.
type Producer struct {
	cfg    Config
	client Client
	buf    buffer

	sendCtx   context.Context // canceled when Close gives up
	abortSend context.CancelFunc
	wake      chan struct{} // pokes the dispatch loop
	stop      chan struct{} // ends the dispatch loop
	closedCh  chan struct{} // closed when Close starts
	pressure  atomic.Bool   // a Put waits for room: send without lingering
	wg        sync.WaitGroup

	refreshMu   sync.Mutex // one refresh at a time
	lastRefresh time.Time  // under refreshMu

	mu          sync.Mutex
	smap        *shardMap
	shards      map[string]*shard // open shards by id
	order       []*shard          // open shards, in map order
	rr          int               // round-robin start for batches
	ready       readyTotals       // entries ready in all shards
	inflight    int               // PutRecords calls in flight
	flushers    int               // Flush calls waiting
	closing     bool
	aborted     bool
	gen         uint64          // current flush generation
	outstanding map[uint64]int  // undelivered records by generation
	progress    chan struct{}   // closed and replaced when records finish
	failed      []*FailedRecord // when OnFailure is nil

	stats stats
}

// userRecord is one record given to Put.
type userRecord struct {
	pk, ehk  string
	data     []byte
	hash     u128
	added    time.Time
	deadline time.Time
	gen      uint64
	attempts int
}

func (r *userRecord) size() int64 { return int64(len(r.data) + len(r.pk)) }

// entry is one PutRecords entry: an aggregate or a plain record.
type entry struct {
	pk, ehk string
	data    []byte
	recs    []*userRecord
	agg     bool
	shard   *shard // the shard it was sent for
	lastErr error
}

func (e *entry) size() int { return len(e.data) + len(e.pk) }

// shard is the producer's state for one open shard.
type shard struct {
	id       string
	rng      hashRange
	agg      deagg.Aggregator
	pending  []*userRecord // in agg
	ready    []*entry      // complete entries waiting to be sent
	readyB   int           // their bytes
	total    *readyTotals  // the producer's, updated with ready
	inflight bool
	retryAt  time.Time
	attempts int // consecutive failed calls, for backoff
	stale    bool
}

// readyTotals counts the ready entries of all shards.
type readyTotals struct{ n, bytes int }

// push appends e to the ready entries.
func (s *shard) push(e *entry) {
	s.ready = append(s.ready, e)
	s.readyB += e.size()
	s.total.n++
	s.total.bytes += e.size()
}

// pushFront puts es before the ready entries.
func (s *shard) pushFront(es []*entry) {
	s.ready = append(es, s.ready...)
	b := entriesSize(es)
	s.readyB += b
	s.total.n += len(es)
	s.total.bytes += b
}

// take removes and returns the first n ready entries.
func (s *shard) take(n int) []*entry {
	es := slices.Clone(s.ready[:n])
	clear(s.ready[:n]) // the array keeps no entry alive
	s.ready = s.ready[n:]
	b := entriesSize(es)
	s.readyB -= b
	s.total.n -= n
	s.total.bytes -= b
	return es
}

// takeReady removes and returns the ready entries.
func (s *shard) takeReady() []*entry { return s.take(len(s.ready)) }

func entriesSize(es []*entry) int {
	n := 0
	for _, e := range es {
		n += e.size()
	}
	return n
}

func (s *shard) empty() bool { return len(s.pending) == 0 && len(s.ready) == 0 }

// oldest is when the oldest record waiting in s was Put.
func (s *shard) oldest() time.Time {
	if len(s.ready) > 0 {
		return s.ready[0].recs[0].added
	}
	return s.pending[0].added
}

// New reads the stream's shard map with ListShards and starts a Producer.
// ctx bounds that first ListShards call only.
func New(ctx context.Context, client Client, cfg Config) (*Producer, error) {
	if cfg.StreamName == "" && cfg.StreamARN == "" {
		return nil, errors.New("producer: Config.StreamName or Config.StreamARN is required")
	}
	p := &Producer{
		cfg:         cfg.withDefaults(),
		client:      client,
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		closedCh:    make(chan struct{}),
		shards:      map[string]*shard{},
		outstanding: map[uint64]int{},
		progress:    make(chan struct{}),
	}
	p.buf.init(int64(p.cfg.MaxBufferedRecords), p.cfg.MaxBufferedBytes, func() {
		// A full buffer empties only by sending: send now, not at linger.
		p.pressure.Store(true)
		p.poke()
	})
	p.sendCtx, p.abortSend = context.WithCancel(context.Background())
	m, err := p.listShards(ctx)
	if err != nil {
		p.abortSend()
		return nil, err
	}
	p.lastRefresh = time.Now()
	p.mu.Lock()
	p.installMap(m)
	p.mu.Unlock()
	p.wg.Add(1)
	go p.loop()
	return p, nil
}

// Put buffers a record for the stream, routed by the MD5 of its partition key.
// It copies data. It blocks while the buffer is full, until there is room,
// ctx ends (its error is returned wrapped; a ctx already done refuses the
// record at once) or Close starts (ErrClosed). A nil error
// means the record is accepted: it will be delivered or reported failed.
// An invalid record is refused with an error matching ErrInvalidRecord.
func (p *Producer) Put(ctx context.Context, partitionKey string, data []byte) error {
	return p.put(ctx, partitionKey, "", data)
}

// PutWithHashKey is Put with an explicit hash key (a decimal integer in
// [0, 2^128-1]) that decides the shard instead of the partition key.
func (p *Producer) PutWithHashKey(ctx context.Context, partitionKey, explicitHashKey string, data []byte) error {
	return p.put(ctx, partitionKey, explicitHashKey, data)
}

func (p *Producer) put(ctx context.Context, pk, ehk string, data []byte) error {
	h, err := validate(pk, ehk, data)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("producer: put partition key %q: %w", pk, err)
	}
	r := &userRecord{pk: pk, ehk: ehk, data: append([]byte(nil), data...), hash: h}
	if err := p.buf.acquire(ctx, r.size(), p.closedCh); err != nil {
		return fmt.Errorf("producer: put partition key %q: %w", pk, err)
	}
	now := time.Now()
	r.added, r.deadline = now, now.Add(p.cfg.RecordTTL)
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.buf.release(1, r.size())
		return fmt.Errorf("producer: put partition key %q: %w", pk, ErrClosed)
	}
	r.gen = p.gen
	p.outstanding[r.gen]++
	poke := p.route(r)
	p.mu.Unlock()
	p.stats.recordsPut.Add(1)
	p.stats.bytesPut.Add(r.size())
	if poke {
		p.poke()
	}
	return nil
}

// route adds r to its shard, under p.mu. It reports whether the dispatch loop
// should look: the shard was empty (a new linger deadline) or a batch filled.
func (p *Producer) route(r *userRecord) bool {
	s := p.order[p.smap.find(r.hash)]
	wasEmpty := s.empty()
	readyBefore := len(s.ready)
	if p.cfg.DisableAggregation {
		s.push(plainEntry(r))
	} else {
		done, err := s.agg.Add(deagg.Entry{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data})
		switch {
		case errors.Is(err, deagg.ErrRecordTooLarge):
			// Too large to aggregate, not for a plain record (validated).
			p.closeAggregate(s)
			s.push(plainEntry(r))
		case err != nil:
			// Unreachable: the record was validated as the aggregator does.
			s.push(plainEntry(r))
		default:
			if done != nil {
				s.push(aggEntry(done, s.pending))
				s.pending = nil
			}
			s.pending = append(s.pending, r)
		}
	}
	return wasEmpty || (len(s.ready) > readyBefore &&
		(p.ready.n >= p.cfg.BatchMaxRecords || p.ready.bytes >= p.cfg.BatchMaxBytes))
}

// closeAggregate moves s's partial aggregate to its ready entries.
func (p *Producer) closeAggregate(s *shard) {
	if a := s.agg.Flush(); a != nil {
		s.push(aggEntry(a, s.pending))
	}
	s.pending = nil
}

func plainEntry(r *userRecord) *entry {
	return &entry{pk: r.pk, ehk: r.ehk, data: r.data, recs: []*userRecord{r}}
}

// aggEntry makes an entry of an aggregate of recs; a single record is sent
// plain, as the KPL does.
func aggEntry(a *deagg.AggregatedRecord, recs []*userRecord) *entry {
	if len(recs) == 1 {
		return plainEntry(recs[0])
	}
	return &entry{pk: a.PartitionKey, ehk: a.ExplicitHashKey, data: a.Data, recs: recs, agg: true}
}

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
	if doneN > 0 {
		p.pressure.Store(false) // a Put still waiting sets it again
		p.buf.release(doneN, doneBytes)
		close(p.progress)
		p.progress = make(chan struct{})
	}
	p.stats.failures.Add(int64(len(failed)))
	if p.cfg.OnFailure == nil {
		p.failed = append(p.failed, failed...)
	}
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

// Flush sends every record Put before it was called and waits until each is
// delivered or reported failed, or ctx ends (ctx.Err is returned; the
// records stay buffered). It returns nil even if records failed: those go to
// OnFailure or Close.
func (p *Producer) Flush(ctx context.Context) error {
	p.mu.Lock()
	g := p.gen
	p.gen++
	p.flushers++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.flushers--
		p.mu.Unlock()
	}()
	p.poke()
	for {
		p.mu.Lock()
		left := 0
		for gen, n := range p.outstanding {
			if gen <= g {
				left += n
			}
		}
		ch := p.progress
		p.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("producer: flush: %d records not settled: %w", left, ctx.Err())
		}
	}
}

// Close stops accepting records (Put returns ErrClosed), sends everything
// buffered, waits for it, and stops the producer's goroutines. If ctx ends
// first, calls in flight are canceled and every record not yet delivered is
// reported failed with ErrClosed. Close returns a *CloseError when any record
// Put during the producer's life failed, nil otherwise. Calling Close again
// returns ErrClosed.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closing = true
	p.mu.Unlock()
	close(p.closedCh)
	if err := p.Flush(ctx); err != nil {
		p.abort(ctx.Err())
		_ = p.Flush(context.Background()) // in-flight calls are canceled: quick
	}
	close(p.stop)
	p.wg.Wait()
	p.abortSend()
	if n := p.stats.failures.Load(); n > 0 {
		p.mu.Lock()
		defer p.mu.Unlock()
		return &CloseError{Failed: n, Records: p.failed}
	}
	return nil
}

// abort fails every buffered record and cancels the calls in flight.
func (p *Producer) abort(cause error) {
	p.mu.Lock()
	p.aborted = true
	var failed []*FailedRecord
	var n, bytes int64
	for _, s := range p.order {
		p.closeAggregate(s)
		for _, e := range s.takeReady() {
			for _, r := range e.recs {
				n++
				bytes += r.size()
				if p.outstanding[r.gen]--; p.outstanding[r.gen] == 0 {
					delete(p.outstanding, r.gen)
				}
				err := fmt.Errorf("%w before delivery: %w", ErrClosed, cause)
				if e.lastErr != nil {
					err = fmt.Errorf("%w before delivery: %w (last attempt: %w)", ErrClosed, cause, e.lastErr)
				}
				failed = append(failed, &FailedRecord{PartitionKey: r.pk, ExplicitHashKey: r.ehk, Data: r.data, Attempts: r.attempts, Err: err})
			}
		}
	}
	if n > 0 {
		p.pressure.Store(false)
		p.buf.release(n, bytes)
		close(p.progress)
		p.progress = make(chan struct{})
	}
	p.stats.failures.Add(int64(len(failed)))
	if p.cfg.OnFailure == nil {
		p.failed = append(p.failed, failed...)
	}
	p.mu.Unlock()
	p.abortSend()
	p.report(failed)
}

// listShards reads the stream's shard map.
func (p *Producer) listShards(ctx context.Context) (*shardMap, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
	defer cancel()
	m := &shardMap{all: map[string]hashRange{}}
	in := &kinesis.ListShardsInput{}
	if p.cfg.StreamARN != "" {
		in.StreamARN = aws.String(p.cfg.StreamARN)
	} else {
		in.StreamName = aws.String(p.cfg.StreamName)
	}
	for {
		out, err := p.client.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("producer: ListShards: %w", err)
		}
		for _, s := range out.Shards {
			if s.HashKeyRange == nil || s.ShardId == nil {
				continue
			}
			start, ok1 := parseU128(aws.ToString(s.HashKeyRange.StartingHashKey))
			end, ok2 := parseU128(aws.ToString(s.HashKeyRange.EndingHashKey))
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("producer: ListShards: shard %s has an invalid hash key range", aws.ToString(s.ShardId))
			}
			rng := hashRange{start, end}
			m.all[*s.ShardId] = rng
			if s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil {
				m.open = append(m.open, shardInfo{*s.ShardId, rng})
			}
		}
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
	if len(m.open) == 0 {
		return nil, errors.New("producer: ListShards: the stream has no open shard")
	}
	sort.Slice(m.open, func(i, j int) bool { return m.open[i].rng.start.less(m.open[j].rng.start) })
	return m, nil
}

// refreshShards re-reads the shard map, at most once per
// ShardMapMinInterval.
func (p *Producer) refreshShards() {
	p.refreshMu.Lock()
	defer p.refreshMu.Unlock()
	if time.Since(p.lastRefresh) < p.cfg.ShardMapMinInterval {
		return
	}
	p.lastRefresh = time.Now()
	m, err := p.listShards(p.sendCtx)
	if err != nil {
		return // keep the old map; the next misroute tries again
	}
	p.stats.refreshes.Add(1)
	p.mu.Lock()
	p.installMap(m)
	p.mu.Unlock()
}

// installMap switches to m, under p.mu. Shards that are gone give their
// waiting records back to routing.
func (p *Producer) installMap(m *shardMap) {
	old := p.shards
	p.smap = m
	p.shards = make(map[string]*shard, len(m.open))
	p.order = make([]*shard, len(m.open))
	for i, si := range m.open {
		s, ok := old[si.id]
		if !ok || s.rng != si.rng {
			s = &shard{id: si.id, rng: si.rng, total: &p.ready}
			s.agg.MaxSize = p.cfg.AggregationMaxSize
			s.agg.MaxCount = p.cfg.AggregationMaxCount
		}
		p.shards[si.id] = s
		p.order[i] = s
	}
	for id, s := range old {
		if p.shards[id] == s {
			continue
		}
		s.stale = true
		s.agg.Flush()
		var recs []*userRecord
		for _, e := range s.takeReady() {
			recs = append(recs, e.recs...)
		}
		recs = append(recs, s.pending...)
		s.pending = nil
		for _, r := range recs {
			p.route(r)
		}
	}
}
