package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLimit(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		assert.Equal(t, w*time.Millisecond, p.Limit(i+1), "attempt %d", i+1)
	}
	assert.Equal(t, time.Second, p.Limit(1000), "no overflow")
	assert.Equal(t, time.Duration(0), Policy{}.Limit(3))
	uncapped := Policy{Initial: time.Hour}
	assert.Positive(t, uncapped.Limit(1000), "no overflow without a cap")
}

func TestDelayWithinLimit(t *testing.T) {
	for _, j := range []Jitter{Full, Equal} {
		p := Policy{Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond, Jitter: j}
		for attempt := 1; attempt < 10; attempt++ {
			for range 200 {
				d := p.Delay(attempt)
				limit := p.Limit(attempt)
				assert.LessOrEqual(t, d, limit)
				assert.Positive(t, d)
				if j == Equal {
					assert.GreaterOrEqual(t, d, limit/2)
				}
			}
		}
	}
	assert.Equal(t, time.Duration(0), Policy{}.Delay(1))
}

func TestSleep(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, Sleep(ctx, time.Hour), context.Canceled)
	assert.NoError(t, Sleep(context.Background(), time.Microsecond))
	assert.NoError(t, Sleep(context.Background(), 0))
}
