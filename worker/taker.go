package worker

import (
	"math/rand/v2"
	"time"
)

// observed is a lease as the taker last saw it, with the time (on this
// worker's monotonic clock) its counter was last seen to change.
type observed struct {
	Lease
	changed time.Time // zero: never seen renewed (a new, unowned lease)
}

// observer keeps the taker's view of the table between scans: the Java
// KCL's DynamoDBLeaseTaker.updateAllLeases. No wall clock is compared across
// workers: a lease is expired when its counter has not changed for the
// failover time, measured between this worker's own scans.
type observer struct {
	seen map[string]observed
}

// update merges a scan taken at now.
func (o *observer) update(leases []Lease, now time.Time) {
	next := make(map[string]observed, len(leases))
	for _, l := range leases {
		ob := observed{Lease: l}
		if old, ok := o.seen[l.Key]; ok {
			if old.Counter == l.Counter {
				ob.changed = old.changed
			} else {
				ob.changed = now
			}
		} else if l.Owner != "" {
			ob.changed = now // an owned lease seen first counts as renewed at this scan
		}
		next[l.Key] = ob
	}
	o.seen = next
}

// takePlan is what one run of the taker decided.
type takePlan struct {
	take   []observed // expired or free leases, and very old ones
	steal  []observed // at most maxSteal leases of the most loaded worker
	target int
}

// available reports whether a lease may be taken: free, or expired.
func (ob observed) available(now time.Time, failover time.Duration) bool {
	return ob.Owner == "" || ob.changed.IsZero() || now.Sub(ob.changed) > failover
}

// plan decides which leases the worker me takes, as the Java KCL's
// computeLeasesToTake and chooseLeasesToSteal do: leases not renewed for
// 3 × failover go first (up to maxLeases), then expired ones up to the fair
// share ceil(leases / workers), then, if none is available, at most maxSteal
// from the most loaded worker. Every lease counts towards the fair share,
// finished ones included, as in the Java KCL; a lease in a KCL 3.x hand-off
// (checkpointOwner set) counts for its owner and is never taken.
func (o *observer) plan(me string, now time.Time, failover time.Duration, maxLeases, maxSteal int, rng *rand.Rand) takePlan {
	var avail []observed
	counts := map[string]int{}
	for _, ob := range o.seen {
		if ob.CheckpointOwner == "" && ob.available(now, failover) {
			avail = append(avail, ob)
		} else {
			counts[ob.Owner]++
		}
	}
	if _, ok := counts[me]; !ok {
		counts[me] = 0
	}
	numLeases, numWorkers := len(o.seen), len(counts)
	if numLeases == 0 {
		return takePlan{}
	}
	target := 1
	if numWorkers < numLeases {
		target = (numLeases + numWorkers - 1) / numWorkers
	}
	if target > maxLeases {
		target = maxLeases
	}
	mine := counts[me]

	// Very old leases (never renewed, or not for 3 × failover) first,
	// regardless of the target but within maxLeases.
	var veryOld []observed
	for _, ob := range avail {
		if ob.changed.IsZero() || now.Sub(ob.changed) > 3*failover {
			veryOld = append(veryOld, ob)
		}
	}
	if len(veryOld) > 0 {
		rng.Shuffle(len(veryOld), func(i, j int) { veryOld[i], veryOld[j] = veryOld[j], veryOld[i] })
		n := min(max(0, maxLeases-mine), len(veryOld))
		return takePlan{take: veryOld[:n], target: target}
	}
	need := target - mine
	if need <= 0 {
		return takePlan{target: target}
	}
	if len(avail) > 0 {
		rng.Shuffle(len(avail), func(i, j int) { avail[i], avail[j] = avail[j], avail[i] })
		return takePlan{take: avail[:min(need, len(avail))], target: target}
	}
	// Nothing free: steal from the most loaded worker.
	most, mostN := "", -1
	for w, n := range counts {
		if n > mostN || (n == mostN && w < most) {
			most, mostN = w, n
		}
	}
	steal := 0
	if mostN >= target && need > 0 {
		steal = min(need, mostN-target)
		if need > 1 && steal == 0 {
			steal = 1
		}
		steal = min(steal, maxSteal)
	}
	if steal <= 0 || most == me {
		return takePlan{target: target}
	}
	var cands []observed
	for _, ob := range o.seen {
		if ob.Owner == most && ob.CheckpointOwner == "" && !ob.available(now, failover) {
			cands = append(cands, ob)
		}
	}
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	return takePlan{steal: cands[:min(steal, len(cands))], target: target}
}
