// Package backoff is kclgo's one exponential backoff: the waits between
// retries of a processor action, a checkpoint, a PutRecords call, a
// GetRecords call or a lease-table write.
//
// Waits grow exponentially from Policy.Initial, doubling per attempt, up to
// Policy.Max, and are randomised ("jittered") so that many clients retrying
// the same failure do not retry in lockstep.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Jitter says how a wait is randomised below its exponential limit.
type Jitter int

const (
	// Full draws the wait uniformly from (0, limit]: the spread that
	// de-synchronises clients best (AWS Architecture Blog, "Exponential
	// Backoff and Jitter").
	Full Jitter = iota
	// Equal draws the wait from [limit/2, limit]: never much shorter than
	// the limit, for callers that must slow down for sure (throttling).
	Equal
)

// Policy is an exponential backoff.
type Policy struct {
	// Initial is the limit of the first wait. Zero means no wait at all.
	Initial time.Duration
	// Max caps every wait. Zero means no cap.
	Max time.Duration
	// Jitter is how a wait is drawn below its limit. The zero value is
	// Full.
	Jitter Jitter
}

// Limit returns the upper bound of the wait after the attempt-th failure
// (attempt counts from 1): Initial × 2^(attempt−1), capped at Max.
func (p Policy) Limit(attempt int) time.Duration {
	limit := p.Initial
	if limit <= 0 {
		return 0
	}
	for i := 1; i < attempt && i < 40; i++ { // 40 doublings at most: no overflow below
		if p.Max > 0 && limit >= p.Max {
			break
		}
		if limit > (1<<62)/2 {
			break
		}
		limit *= 2
	}
	if p.Max > 0 && limit > p.Max {
		limit = p.Max
	}
	return limit
}

// Delay returns a randomised wait after the attempt-th failure (attempt
// counts from 1), drawn by p.Jitter below [Policy.Limit].
func (p Policy) Delay(attempt int) time.Duration {
	limit := p.Limit(attempt)
	if limit <= 0 {
		return 0
	}
	if p.Jitter == Equal {
		return limit/2 + rand.N(limit/2+1)
	}
	return rand.N(limit) + 1
}

// Sleep waits for d or until ctx is done, whichever comes first, and
// returns ctx.Err() in the latter case. A d of zero or less only checks
// ctx.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
