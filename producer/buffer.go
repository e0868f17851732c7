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
