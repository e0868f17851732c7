package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The concurrent sample (samples/concurrent: kcl.Concurrent, 64 goroutines
// per shard, a handler that sleeps 5 ms per record) under the real KCL 3
// daemon. Its record log has an R line per record written before the record
// counts as finished and a C line per checkpoint written after the daemon
// accepted it, so the log proves the watermark: every record at or before a
// checkpoint has its R line before the checkpoint's C line.

var concurrentChild struct {
	once sync.Once
	path string
	err  error
}

// buildConcurrent builds samples/concurrent once per run.
func buildConcurrent(t *testing.T) string {
	t.Helper()
	c := &concurrentChild
	c.once.Do(func() {
		c.path = filepath.Join(env.bin, "kclgo-sample-concurrent")
		if out, err := runIn(env.root, 3*time.Minute, nil, "go", "build", "-o", c.path, "./samples/concurrent"); err != nil {
			c.err = fmt.Errorf("go build ./samples/concurrent: %v\n%s", err, out)
		}
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.path
}

// concurrentProps: empty polls call ProcessRecords, so an idle shard still
// checkpoints the records that finished after the last batch.
var concurrentProps = map[string]string{"callProcessRecordsEvenForEmptyRecordList": "true"}

// TestConcurrentDelivery: 10,000 records (half KPL-aggregated) on 4 shards
// through a 5 ms handler; all arrive, every checkpoint is at or behind the
// finished records, and each shard's checkpoint ends at its last record.
func TestConcurrentDelivery(t *testing.T) {
	need(t)
	t.Parallel()
	child := buildConcurrent(t)
	ep := env.kcl3
	stream, app := unique("concurrent"), unique("concurrent-app")
	produce(t, ep, stream, 4, 0, 5000)
	produce(t, ep, stream, 0, 5000, 5000, "-aggregated", "5000")
	logPath := filepath.Join(t.TempDir(), "records.log")
	// A checkpoint policy (every 50 records) checkpoints the watermark while
	// ProcessRecords waits for room too: many checkpoints with records in
	// flight on both sides of them.
	// Batches of at most 500: several ProcessRecords per shard, each a
	// checkpoint moment.
	p := props(3, ep, app, stream, child, map[string]string{"maxRecords": "500", "callProcessRecordsEvenForEmptyRecordList": "true"})
	d := startDaemon(t, 3, p, childEnv(logPath, "KCLGO_CHECKPOINT_EVERY=50"))
	lines := waitAll(t, logPath, 0, 10000, 3*time.Minute, d)
	if dup := duplicates(lines); len(dup) > 0 {
		t.Errorf("records delivered more than once in a clean run: %d, e.g. %v", len(dup), first(dup, 5))
	}
	if n := len(lastSeq(lines)); n != 4 {
		t.Errorf("records came from %d shards, want 4", n)
	}
	assertCheckpointsAtEnd(t, ep, app, lastSeq(lines), d)
	checkWatermarkLog(t, readLog(t, logPath))
}

// TestConcurrentKill: a concurrent child is SIGKILLed mid-stream with
// records in flight; after the restart every record arrives, redelivery
// starts right after each checkpoint, and no checkpoint was ever ahead of
// the finished records.
func TestConcurrentKill(t *testing.T) {
	need(t)
	t.Parallel()
	child := buildConcurrent(t)
	checkWatermarkLog(t, restartAfterFailure(t, "concurrent-kill", child, concurrentProps, killAChild, nil))
}

// checkWatermarkLog checks, for every C line, that each record of its
// shard at or before its position has an R line before it.
func checkWatermarkLog(t *testing.T, lines []logLine) {
	t.Helper()
	type pos struct {
		seq string
		sub int64
		at  int // index of the first R line
	}
	less := func(a, b pos) bool {
		if a.seq != b.seq {
			return seqLess(a.seq, b.seq)
		}
		return a.sub < b.sub
	}
	byShard := map[string]map[[2]string]int{}
	for _, l := range lines {
		if l.kind != 'R' {
			continue
		}
		m := byShard[l.shard]
		if m == nil {
			m = map[[2]string]int{}
			byShard[l.shard] = m
		}
		k := [2]string{l.seq, l.sub}
		if _, ok := m[k]; !ok {
			m[k] = l.index
		}
	}
	// Per shard: positions in stream order, and the latest first-R line of
	// each prefix.
	sorted := map[string][]pos{}
	latest := map[string][]int{}
	for shard, m := range byShard {
		ps := make([]pos, 0, len(m))
		for k, at := range m {
			sub, _ := strconv.ParseInt(k[1], 10, 64)
			ps = append(ps, pos{seq: k[0], sub: sub, at: at})
		}
		sort.Slice(ps, func(i, j int) bool { return less(ps[i], ps[j]) })
		pre := make([]int, len(ps))
		for i, p := range ps {
			pre[i] = p.at
			if i > 0 && pre[i-1] > pre[i] {
				pre[i] = pre[i-1]
			}
		}
		sorted[shard], latest[shard] = ps, pre
	}
	checked, bad := 0, 0
	for _, l := range lines {
		if l.kind != 'C' || l.seq == "" {
			continue
		}
		sub, _ := strconv.ParseInt(l.sub, 10, 64)
		c := pos{seq: l.seq, sub: sub}
		ps := sorted[l.shard]
		n := sort.Search(len(ps), func(i int) bool { return less(c, ps[i]) }) // records at or before c
		checked++
		if n == 0 || ps[n-1].seq != c.seq || ps[n-1].sub != c.sub {
			bad++
			t.Errorf("shard %s: checkpoint %s/%d (log line %d) names a record never finished", l.shard, l.seq, sub, l.index)
			continue
		}
		if latest[l.shard][n-1] > l.index {
			bad++
			if bad <= 5 {
				t.Errorf("shard %s: checkpoint %s/%d (log line %d) is ahead of the finished records: a record at or before it finished only at line %d", l.shard, l.seq, sub, l.index, latest[l.shard][n-1])
			}
		}
	}
	if checked == 0 {
		t.Errorf("no checkpoint with a position in the record log")
	}
	t.Logf("%d checkpoints checked against the finished records", checked)
}
