package checkpointer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock                   { return &fakeClock{t: time.Unix(1e9, 0)} }

func dues(p *Policy, clock *fakeClock, n int, step time.Duration) []int {
	var out []int
	for i := 1; i <= n; i++ {
		clock.advance(step)
		if p.RecordDone() {
			out = append(out, i)
			p.Checkpointed()
		}
	}
	return out
}

func TestPolicies(t *testing.T) {
	tests := []struct {
		name string
		p    *Policy
		step time.Duration
		want []int
	}{
		{"every 3 records", EveryRecords(3), time.Second, []int{3, 6, 9}},
		{"every 5s, a record a second", EveryInterval(5 * time.Second), time.Second, []int{6}},
		{"either: records first", Either(2, time.Hour), time.Second, []int{2, 4, 6, 8, 10}},
		{"either: time first", Either(100, 3*time.Second), 2 * time.Second, []int{3, 5, 7, 9}},
		{"manual", Manual(), time.Hour, nil},
		{"zero value", &Policy{}, time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			tt.p.Now = clock.now
			assert.Equal(t, tt.want, dues(tt.p, clock, 10, tt.step))
		})
	}
}

func TestIntervalStartsAtFirstRecord(t *testing.T) {
	clock := newClock()
	p := EveryInterval(time.Minute)
	p.Now = clock.now
	clock.advance(time.Hour) // idle before the first record
	assert.False(t, p.RecordDone())
	clock.advance(59 * time.Second)
	assert.False(t, p.RecordDone())
	clock.advance(time.Second)
	assert.True(t, p.RecordDone())
}
