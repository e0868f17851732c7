package producer

import (
	"context"
	"sync"
)

// buffer bounds the records and bytes Put but not yet settled.
type buffer struct {
	mu                sync.Mutex
	recs, bytes       int64
	maxRecs, maxBytes int64
	changed           chan struct{} // closed and replaced on release
	onFull            func()        // called, unlocked, before each wait
}

func (b *buffer) init(maxRecs, maxBytes int64, onFull func()) {
	b.maxRecs, b.maxBytes = maxRecs, maxBytes
	b.changed = make(chan struct{})
	b.onFull = onFull
}

// acquire takes room for one record of n bytes, blocking while there is
// none. A record always fits an empty buffer.
func (b *buffer) acquire(ctx context.Context, n int64, closed <-chan struct{}) error {
	for {
		b.mu.Lock()
		if b.recs == 0 || (b.recs < b.maxRecs && b.bytes+n <= b.maxBytes) {
			b.recs++
			b.bytes += n
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		b.onFull()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrClosed
		}
	}
}

// release frees room for recs records of bytes in total.
func (b *buffer) release(recs, bytes int64) {
	b.mu.Lock()
	b.recs -= recs
	b.bytes -= bytes
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// usage returns the records and bytes buffered.
func (b *buffer) usage() (int64, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.recs, b.bytes
}

// slab hands out userRecords and copies of small records' data from larger
// allocations, under p.mu: two heap objects per Put become a few per
// hundred, which the garbage collector notices. A chunk stays alive while
// any record or data slice in it does, so memory held may exceed the
// buffered bytes by a chunk per shard of retried records at most.
type slab struct {
	recs []userRecord // what is left of the current chunk
	data []byte       // what is left of the current data arena
}

const (
	slabRecords  = 128      // userRecords per chunk
	slabDataSize = 32 << 10 // bytes per data arena
	slabDataMax  = 1 << 10  // larger data gets an allocation of its own
)

// record returns a zero userRecord.
func (s *slab) record() *userRecord {
	if len(s.recs) == 0 {
		s.recs = make([]userRecord, slabRecords)
	}
	r := &s.recs[0]
	s.recs = s.recs[1:]
	return r
}

// copy returns a copy of b (len(b) <= slabDataMax), with no spare capacity.
func (s *slab) copy(b []byte) []byte {
	if len(b) > len(s.data) {
		s.data = make([]byte, slabDataSize)
	}
	d := s.data[:len(b):len(b)]
	copy(d, b)
	s.data = s.data[len(b):]
	return d
}
