package producer

import (
	"errors"
	"slices"
	"time"

	"github.com/kclgo/kclgo/deagg"
)

// userRecord is one record given to Put.
type userRecord struct {
	pk, ehk  string
	data     []byte
	hash     u128
	added    time.Time
	deadline time.Time
	gen      uint64
	attempts int
	tag      any       // the caller's, for Result and FailedRecord
	history  []Attempt // in entries it left, only when Config.OnResult is set
}

func (r *userRecord) size() int64 { return int64(len(r.data) + len(r.pk)) }

// entry is one PutRecords entry: an aggregate or a plain record.
type entry struct {
	pk, ehk string
	data    []byte
	recs    []*userRecord
	one     [1]*userRecord // recs of a plain entry, without an allocation
	agg     bool
	shard   *shard // the shard it was sent for
	lastErr error
	// attempts counts the failed sends of this entry; notBefore is when it
	// may be sent again (its own backoff, see shard.delayed).
	attempts  int
	notBefore time.Time
	history   []Attempt // only when Config.OnResult is set
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
	delayed  []*entry      // failed entries waiting for their notBefore, in order
	inflight bool
	// retryAt holds the whole shard back after it was throttled; attempts
	// counts its consecutive throttled calls, for that backoff.
	retryAt  time.Time
	attempts int
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

func (s *shard) empty() bool { return len(s.pending) == 0 && len(s.ready) == 0 && len(s.delayed) == 0 }

// lingering reports whether s has records that were never sent (in its
// aggregate or ready entries).
func (s *shard) lingering() bool { return len(s.pending) > 0 || len(s.ready) > 0 }

// takeDelayed removes and returns the delayed entries due at now that fit,
// in order; fit is asked for each and told which it takes.
func (s *shard) takeDelayed(now time.Time, fit func(*entry) bool) []*entry {
	var took []*entry
	keep := s.delayed[:0]
	for _, e := range s.delayed {
		if !e.notBefore.After(now) && fit(e) {
			took = append(took, e)
		} else {
			keep = append(keep, e)
		}
	}
	clear(s.delayed[len(keep):])
	s.delayed = keep
	return took
}

// takeAll removes and returns every entry of s but its open aggregate:
// delayed ones first, then ready ones.
func (s *shard) takeAll() []*entry {
	es := s.delayed
	s.delayed = nil
	return append(es, s.takeReady()...)
}

// oldest is when the oldest record waiting in s was Put, among the records
// never sent (s.lingering must be true).
func (s *shard) oldest() time.Time {
	if len(s.ready) > 0 {
		return s.ready[0].recs[0].added
	}
	return s.pending[0].added
}

// route adds r to its shard, under p.mu. It reports whether the dispatch loop
// should look: the shard was empty (a new linger deadline) or a batch filled.
func (p *Producer) route(r *userRecord) bool {
	s := p.order[p.smap.find(r.hash)]
	wasEmpty := !s.lingering()
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
				s.pending = make([]*userRecord, 0, len(s.pending)) // the next one is likely as long
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
	e := &entry{pk: r.pk, ehk: r.ehk, data: r.data}
	e.one[0] = r
	e.recs = e.one[:]
	return e
}

// aggEntry makes an entry of an aggregate of recs; a single record is sent
// plain, as the KPL does.
func aggEntry(a *deagg.AggregatedRecord, recs []*userRecord) *entry {
	if len(recs) == 1 {
		return plainEntry(recs[0])
	}
	return &entry{pk: a.PartitionKey, ehk: a.ExplicitHashKey, data: a.Data, recs: recs, agg: true}
}
