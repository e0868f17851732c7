package kcl

import (
	"context"
	"time"

	"github.com/kclgo/kclgo/internal/backoff"
)

// RetryPolicy says how often and how fast to try an operation again: a
// failed processor action, or a checkpoint refused for a retryable reason.
// Waits grow exponentially from InitialBackoff up to MaxBackoff, each with
// full jitter (a random duration up to the limit).
type RetryPolicy struct {
	// MaxAttempts is the number of tries in all, including the first.
	// Zero or one means no retry.
	MaxAttempts int
	// InitialBackoff is the limit of the first wait. Zero means no wait.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait. Zero means no cap.
	MaxBackoff time.Duration
}

// DefaultCheckpointRetry returns the default retry of throttled and
// dependency-failed checkpoints: 6 attempts, waits up to 100 ms, 200 ms, ...
// capped at 3 s.
func DefaultCheckpointRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 6, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 3 * time.Second}
}

// DefaultProcessorRetry returns the default retry of a failed processor
// action: 3 attempts, waits up to 1 s then 2 s.
func DefaultProcessorRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
}

// backoff returns the wait before attempt number attempt+1 (attempt counts
// from 1): internal/backoff with full jitter.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	return backoff.Policy{Initial: p.InitialBackoff, Max: p.MaxBackoff, Jitter: backoff.Full}.Delay(attempt)
}

// sleep waits for d or until ctx is done (backoff.Sleep).
func sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }
