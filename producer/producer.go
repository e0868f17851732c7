package producer

import (
	"context"
	"errors"
	"fmt"
	"github.com/kclgo/kclgo/internal/telemetry"
	"sync"
	"sync/atomic"
	"time"
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
	keys        keyCache
	slab        slab

	stats stats
	tel   *telemetry.Producer // nil: no metrics
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
	stream := p.cfg.StreamName
	if stream == "" {
		stream = p.cfg.StreamARN
	}
	p.tel, err = telemetry.NewProducer(p.cfg.MeterProvider, p.telemetryStats, telemetry.KeyStream.String(stream))
	if err != nil {
		p.abortSend()
		return nil, fmt.Errorf("producer: metrics: %w", err)
	}
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
	return p.put(ctx, &Record{PartitionKey: partitionKey, Data: data})
}

// PutWithHashKey is Put with an explicit hash key (a decimal integer in
// [0, 2^128-1]) that decides the shard instead of the partition key.
func (p *Producer) PutWithHashKey(ctx context.Context, partitionKey, explicitHashKey string, data []byte) error {
	return p.put(ctx, &Record{PartitionKey: partitionKey, ExplicitHashKey: explicitHashKey, Data: data})
}

// PutRecord is Put for a Record: its Tag comes back in the record's Result
// (Config.OnResult) and, if it fails, its FailedRecord, so the caller
// learns what became of this very record.
func (p *Producer) PutRecord(ctx context.Context, r Record) error {
	return p.put(ctx, &r)
}

func (p *Producer) put(ctx context.Context, rec *Record) error {
	pk := rec.PartitionKey
	h, err := validate(pk, rec.ExplicitHashKey, rec.Data)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("producer: put partition key %q: %w", pk, err)
	}
	size := int64(len(pk) + len(rec.Data))
	var data []byte
	if len(rec.Data) > slabDataMax {
		data = append([]byte(nil), rec.Data...) // copied outside the lock
	}
	if err := p.buf.acquire(ctx, size, p.closedCh); err != nil {
		return fmt.Errorf("producer: put partition key %q: %w", pk, err)
	}
	now := time.Now()
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.buf.release(1, size)
		return fmt.Errorf("producer: put partition key %q: %w", pk, ErrClosed)
	}
	r := p.slab.record()
	*r = userRecord{pk: pk, ehk: rec.ExplicitHashKey, data: data, hash: h, tag: rec.Tag,
		added: now, deadline: now.Add(p.cfg.RecordTTL)}
	if data == nil {
		r.data = p.slab.copy(rec.Data)
	}
	if r.ehk == "" {
		r.hash = p.keys.hash(pk)
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

// Flush sends every record Put before it was called and waits until each is
// delivered or reported failed (OnFailure and OnResult have returned for
// it), or ctx ends (ctx.Err is returned; the
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
	_ = p.tel.Close() // a closed producer's counters are no longer observed
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
	var o outcome
	for _, s := range p.order {
		p.closeAggregate(s)
		for _, e := range s.takeAll() {
			err := fmt.Errorf("%w before delivery: %w", ErrClosed, cause)
			if e.lastErr != nil {
				err = fmt.Errorf("%w before delivery: %w (last attempt: %w)", ErrClosed, cause, e.lastErr)
			}
			for _, r := range e.recs {
				p.fail(&o, e, r, err)
			}
		}
	}
	p.mu.Unlock()
	p.abortSend()
	p.report(&o)
	p.settle(&o)
}
