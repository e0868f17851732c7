package worker

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func leasesOf(owners ...string) []Lease {
	var ls []Lease
	for i, o := range owners {
		ls = append(ls, Lease{Key: "shard-" + strconv.Itoa(i), Owner: o, Counter: 1})
	}
	return ls
}

func keysOf(obs []observed) []string {
	var ks []string
	for _, o := range obs {
		ks = append(ks, o.Key)
	}
	return ks
}

func TestPlanTakesFreeLeasesFirstUpToMax(t *testing.T) {
	var o observer
	now := time.Unix(1000, 0)
	o.update(leasesOf("", "", "", ""), now)
	rng := rand.New(rand.NewPCG(1, 2))
	p := o.plan("me", now, 10*time.Second, 1<<30, 1, rng)
	assert.Len(t, p.take, 4, "never-renewed leases are very old: all taken, as the Java KCL's priority assignment does")
	p = o.plan("me", now, 10*time.Second, 3, 1, rng)
	assert.Len(t, p.take, 3, "within maxLeasesForWorker")
}

func TestPlanExpiryByUnchangedCounter(t *testing.T) {
	var o observer
	t0 := time.Unix(1000, 0)
	fail := 10 * time.Second
	rng := rand.New(rand.NewPCG(1, 2))
	o.update(leasesOf("a", "a"), t0)
	assert.Empty(t, o.plan("me", t0, fail, 100, 1, rng).take, "an owned lease seen first counts as renewed")
	// Still the same counter after failover: expired, taken up to the fair share.
	o.update(leasesOf("a", "a"), t0.Add(fail+time.Millisecond))
	p := o.plan("me", t0.Add(fail+time.Millisecond), fail, 100, 1, rng)
	assert.Len(t, p.take, 2, "expired leases count for nobody: the owner is gone, the fair share is all")
	// A renewed lease (counter changed) is not expired.
	ls := leasesOf("a", "a")
	ls[0].Counter, ls[1].Counter = 2, 2
	o.update(ls, t0.Add(2*fail))
	assert.Empty(t, o.plan("me", t0.Add(2*fail), fail, 100, 1, rng).take)
}

func TestPlanStealsOneFromTheMostLoaded(t *testing.T) {
	var o observer
	now := time.Unix(1000, 0)
	o.update(leasesOf("a", "a", "a", "a", "b", "b"), now)
	p := o.plan("me", now, 10*time.Second, 100, 1, rand.New(rand.NewPCG(1, 2)))
	assert.Equal(t, 2, p.target, "ceil(6 / 3)")
	assert.Empty(t, p.take)
	assert.Len(t, p.steal, 1, "at most maxLeasesToStealAtOneTime")
	assert.Equal(t, "a", p.steal[0].Owner, "from the most loaded worker")
	// Balanced: nothing to steal.
	o.update(leasesOf("a", "a", "b", "b", "me", "me"), now)
	p = o.plan("me", now, 10*time.Second, 100, 1, rand.New(rand.NewPCG(1, 2)))
	assert.Empty(t, p.steal)
	assert.Empty(t, p.take)
}

func TestPlanStealsWhenNeedingMoreThanOneAtTarget(t *testing.T) {
	var o observer
	now := time.Unix(1000, 0)
	// 4 leases, 2 workers: target 2; a holds 2 (== target), b 2, me 0 → 3
	// workers, target ceil(4/3) = 2, I need 2 > 1: steal 1.
	o.update(leasesOf("a", "a", "b", "b"), now)
	p := o.plan("me", now, 10*time.Second, 100, 1, rand.New(rand.NewPCG(1, 2)))
	assert.Len(t, p.steal, 1)
}

func TestPlanSkipsHandoffs(t *testing.T) {
	var o observer
	now := time.Unix(1000, 0)
	ls := leasesOf("", "")
	ls[0].CheckpointOwner = "old"
	o.update(ls, now)
	p := o.plan("me", now, 10*time.Second, 100, 1, rand.New(rand.NewPCG(1, 2)))
	assert.Equal(t, []string{"shard-1"}, keysOf(p.take))
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b position
		want int
	}{
		{position{"9", 0}, position{"10", 0}, -1},
		{position{"10", 0}, position{"10", 0}, 0},
		{position{"10", 1}, position{"10", 0}, 1},
		{position{"49590338271490256608559692538361571095921575989136588898", 3}, position{"49590338271490256608559692538361571095921575989136588898", 4}, -1},
		{position{"50", 0}, position{"49", 9}, 1},
	} {
		assert.Equal(t, c.want, compare(c.a, c.b), "%v vs %v", c.a, c.b)
	}
}
