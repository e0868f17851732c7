package worker

import (
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
)

func planKeys(ls []Lease) map[string]string {
	m := map[string]string{}
	for _, l := range ls {
		m[l.Key] = l.Checkpoint
	}
	return m
}

// A stream that was split (0 → 1, 2) and then merged (2 + 3 → 4).
var lineage = []shardInfo{
	{id: "0", closed: true},
	{id: "1", parents: []string{"0"}},
	{id: "2", parents: []string{"0"}, closed: true},
	{id: "3", closed: true},
	{id: "4", parents: []string{"2", "3"}},
}

func TestPlanNewTableTrimHorizonCreatesRootsOnly(t *testing.T) {
	got := planKeys(planNewLeases(lineage, nil, "TRIM_HORIZON"))
	assert.Equal(t, map[string]string{"0": "TRIM_HORIZON", "3": "TRIM_HORIZON"}, got)
}

func TestPlanNewTableLatestCreatesOpenShards(t *testing.T) {
	got := planKeys(planNewLeases(lineage, nil, "LATEST"))
	assert.Equal(t, map[string]string{"1": "LATEST", "4": "LATEST"}, got)
}

func TestPlanChildrenAfterParentsEnd(t *testing.T) {
	leases := []Lease{{Key: "0", Checkpoint: "123"}, {Key: "3", Checkpoint: "SHARD_END"}}
	assert.Empty(t, planNewLeases(lineage, leases, "TRIM_HORIZON"), "0 still runs: its children wait")
	leases[0].Checkpoint = "SHARD_END"
	got := planKeys(planNewLeases(lineage, leases, "TRIM_HORIZON"))
	assert.Equal(t, map[string]string{"1": "TRIM_HORIZON", "2": "TRIM_HORIZON"}, got, "children of an ended shard start at their beginning; 4 waits for 2")
	leases = append(leases, Lease{Key: "1", Checkpoint: "5"}, Lease{Key: "2", Checkpoint: "SHARD_END"})
	got = planKeys(planNewLeases(lineage, leases, "TRIM_HORIZON"))
	assert.Equal(t, map[string]string{"4": "TRIM_HORIZON"}, got, "a merge's child after both parents ended")
}

func TestPlanSkipsShardsWithLeasedDescendants(t *testing.T) {
	// The parents' leases were cleaned up after they ended; the child has one.
	leases := []Lease{{Key: "1", Checkpoint: "5"}, {Key: "4", Checkpoint: "7"}}
	got := planNewLeases(lineage, leases, "TRIM_HORIZON")
	var ks []string
	for _, l := range got {
		ks = append(ks, l.Key)
	}
	sort.Strings(ks)
	assert.Empty(t, ks, "0, 2 and 3 were processed: their descendants hold leases")
}

func TestPlanKeepsParentsAndHashRange(t *testing.T) {
	shards := []shardInfo{{id: "0", closed: true}, {id: "1", parents: []string{"0"}, startKey: "0", endKey: "99"}}
	got := planNewLeases(shards, []Lease{{Key: "0", Checkpoint: "SHARD_END"}}, "LATEST")
	assert.Equal(t, []Lease{{Key: "1", Checkpoint: "TRIM_HORIZON", Parents: []string{"0"}, StartingHashKey: "0", EndingHashKey: "99"}}, got)
}
