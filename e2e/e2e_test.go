package e2e

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDelivery: KCL 3 daemon + moto; 10,000 records on 4 shards (half of
// them KPL-aggregated) all arrive, and each shard's lease checkpoint ends at
// its last record.
func TestDelivery(t *testing.T) {
	need(t)
	t.Parallel()
	ep := env.kcl3
	stream, app := unique("delivery"), unique("delivery-app")
	// Half plain, half KPL-aggregated by kclgo's producer: the daemon
	// deaggregates, the child sees user records with sub-sequence numbers.
	produce(t, ep, stream, 4, 0, 5000)
	produce(t, ep, stream, 0, 5000, 5000, "-aggregated", "5000")
	logPath := filepath.Join(t.TempDir(), "records.log")
	d := startDaemon(t, 3, props(3, ep, app, stream, env.child, nil), childEnv(logPath))
	lines := waitAll(t, logPath, 0, 10000, 3*time.Minute, d)
	if dup := duplicates(lines); len(dup) > 0 {
		t.Errorf("records delivered more than once in a clean run: %d, e.g. %v", len(dup), first(dup, 5))
	}
	last := lastSeq(lines)
	if len(last) != 4 {
		t.Errorf("records came from %d shards, want 4: %v", len(last), last)
	}
	aggregated := 0
	for _, l := range lines {
		if l.kind == 'R' && l.sub != "0" {
			aggregated++
		}
	}
	if aggregated == 0 {
		t.Errorf("no record with a sub-sequence number: the aggregated half did not arrive as user records")
	}
	assertCheckpointsAtEnd(t, ep, app, last, d)
}

// assertCheckpointsAtEnd waits for the lease table to show each shard's
// last record; a child that checkpoints only at shutdown gets a SIGTERM.
func assertCheckpointsAtEnd(t *testing.T, ep endpoints, app string, last map[string]string, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, why = checkpointsAtEnd(ep, app, last); ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("checkpoints not at the last records while running (%s); stopping the daemon gracefully", why)
	code := d.stop(30 * time.Second)
	t.Logf("daemon exit code %d after SIGTERM", code)
	if ok, why := checkpointsAtEnd(ep, app, last); !ok {
		t.Errorf("lease checkpoints are not at each shard's last record: %s", why)
	}
}

func duplicates(lines []logLine) []string {
	var d []string
	for k, n := range keys(lines) {
		if n > 1 {
			d = append(d, k)
		}
	}
	sort.Strings(d)
	return d
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// TestCrashRestart: a child is SIGKILLed mid-stream, the daemon exits, a
// supervisor (the test) restarts it; no record is lost and redelivery on
// each shard starts right after its last checkpoint.
func TestCrashRestart(t *testing.T) {
	need(t)
	t.Parallel()
	restartAfterFailure(t, "crash", env.child, nil, killAChild, nil)
}

// killAChild SIGKILLs one of the daemon's children once 2,000 records
// are logged.
func killAChild(t *testing.T, d *daemon, logPath string) {
	waitFor(t, 2*time.Minute, "2,000 records before the crash", func() bool { return len(keys(readLog(t, logPath))) >= 2000 })
	kids := d.children()
	if len(kids) == 0 {
		t.Fatal("daemon has no child processes")
	}
	t.Logf("SIGKILL child pid %d (of %v)", kids[0], kids)
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestProcessorError: the processor fails its 3rd batch (no status, exit
// non-zero); the daemon exits, is restarted, and nothing is lost.
func TestProcessorError(t *testing.T) {
	need(t)
	t.Parallel()
	restartAfterFailure(t, "procerr", env.child, nil, func(*testing.T, *daemon, string) {}, []string{"KCLGO_SAMPLE_FAIL_BATCH=3"})
}

// restartAfterFailure runs the crash scenario shared by the crash and the
// processor-error tests: 10,000 records in batches of 100 on 4 shards,
// processed by child, with extra daemon properties; it returns the record
// log's lines at the end.
func restartAfterFailure(t *testing.T, name, child string, extra map[string]string, breakIt func(*testing.T, *daemon, string), firstEnv []string) []logLine {
	ep := env.kcl3
	stream, app := unique(name), unique(name+"-app")
	produce(t, ep, stream, 4, 0, 10000)
	logPath := filepath.Join(t.TempDir(), "records.log")
	// The restarted daemon keeps the workerId, as a supervisor restarting the same host would: the
	// KCL 3 worker then finds its own leases at once instead of waiting for a new leader (the dead
	// worker held the leader lock, whose lease lasts minutes).
	more := map[string]string{"maxRecords": "100", "workerId": app + "-worker"}
	for k, v := range extra {
		more[k] = v
	}
	p := props(3, ep, app, stream, child, more)
	d := startDaemon(t, 3, p, childEnv(logPath, firstEnv...))
	breakIt(t, d, logPath)
	code, ok := d.wait(90 * time.Second)
	if !ok {
		t.Fatal("daemon did not exit within 90 s after its child died")
	}
	t.Logf("daemon exited with %d", code)
	if code == 0 {
		t.Errorf("daemon exit code 0 after a child failure, want non-zero")
	}
	before := readLog(t, logPath)
	cut := len(before)
	ls, err := leases(ep, app)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the failure: %d records logged; leases %v", len(keys(before)), ls)
	if len(keys(before)) >= 10000 {
		t.Fatalf("every record arrived before the failure: the scenario did not test a restart")
	}

	d2 := startDaemon(t, 3, p, childEnv(logPath))
	lines := waitAll(t, logPath, 0, 10000, 3*time.Minute, d2)
	after := lines[cut:]
	// Redelivery starts right after each shard's checkpoint, not earlier.
	firstAfter := map[string]string{}
	for _, l := range after {
		if l.kind != 'R' {
			continue
		}
		cp := ls[l.shard].checkpoint
		if cp != "" && cp != "TRIM_HORIZON" && !seqLess(cp, l.seq) {
			t.Errorf("shard %s: record %s (seq %s) redelivered although the checkpoint was %s", l.shard, l.pk, l.seq, cp)
			break
		}
		if _, ok := firstAfter[l.shard]; !ok {
			firstAfter[l.shard] = l.seq
		}
	}
	// …and no later: every record up to the checkpoint arrived before the
	// failure, every record after it arrives after the restart.
	for shard, l := range ls {
		if _, ok := firstAfter[shard]; !ok {
			continue
		}
		for _, r := range before {
			if r.kind == 'R' && r.shard == shard && l.checkpoint != "TRIM_HORIZON" && seqLess(l.checkpoint, r.seq) {
				if !seen(after, r.pk) {
					t.Errorf("shard %s: record %s (seq %s) after the checkpoint %s was not redelivered", shard, r.pk, r.seq, l.checkpoint)
				}
			}
		}
	}
	t.Logf("first sequence number per shard after the restart: %v", firstAfter)
	assertCheckpointsAtEnd(t, ep, app, lastSeq(lines), d2)
	return readLog(t, logPath)
}

func seen(lines []logLine, pk string) bool {
	for _, l := range lines {
		if l.kind == 'R' && l.pk == pk {
			return true
		}
	}
	return false
}

// TestDifferential: amazon-kclpy's sample and the processor under test
// consume the same stream under the same KCL 3 daemon version (two
// applications); they see the same records and leave the same checkpoints.
func TestDifferential(t *testing.T) {
	need(t)
	t.Parallel()
	ep := env.kcl3
	stream := unique("diff")
	produce(t, ep, stream, 4, 0, 3000)
	type run struct {
		name, app, log string
		d              *daemon
	}
	runs := []*run{{name: env.name, app: unique("diff-ours")}, {name: "kclpy-sample", app: unique("diff-kclpy")}}
	for i, r := range runs {
		r.log = filepath.Join(t.TempDir(), "records.log")
		child := env.child
		if i == 1 {
			child = kclpyChild()
		}
		e := childEnv(r.log)
		e = append(e, "PYTHONPATH="+env.kclpy)
		r.d = startDaemon(t, 3, props(3, ep, r.app, stream, child, nil), e)
	}
	var sets []map[string]string
	for _, r := range runs {
		lines := waitAll(t, r.log, 0, 3000, 3*time.Minute, r.d)
		set := map[string]string{}
		for _, l := range lines {
			if l.kind == 'R' {
				set[l.pk] = l.shard + "/" + l.seq + "/" + l.sub
			}
		}
		sets = append(sets, set)
		assertCheckpointsAtEnd(t, ep, r.app, lastSeq(lines), r.d)
	}
	if diff := diffSets(sets[0], sets[1]); diff != "" {
		t.Errorf("%s and %s saw different records: %s", runs[0].name, runs[1].name, diff)
	}
	l0, err0 := leases(ep, runs[0].app)
	l1, err1 := leases(ep, runs[1].app)
	if err0 != nil || err1 != nil {
		t.Fatal(err0, err1)
	}
	for k, a := range l0 {
		if b := l1[k]; a.checkpoint != b.checkpoint || a.sub != b.sub {
			t.Errorf("shard %s: checkpoint %s/%s (%s) vs %s/%s (%s)", k, a.checkpoint, a.sub, runs[0].name, b.checkpoint, b.sub, runs[1].name)
		}
	}
}

func diffSets(a, b map[string]string) string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s: %q vs %q", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: missing vs %q", k, v))
		}
	}
	sort.Strings(d)
	return strings.Join(first(d, 10), "; ")
}
