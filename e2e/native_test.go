package e2e

// End-to-end tests of the native worker (package worker), run as the
// perrecord sample with -native: against kinesis-local (etspaceman's
// kinesis-mock, which returns ChildShards at a shard's end) with moto's or
// dynalite's DynamoDB, and beside the real Java daemon on the same table.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// The native workers' settings in these tests.
const (
	nativeFailover = 3 * time.Second
	nativeRenewal  = nativeFailover/3 - 25*time.Millisecond
	// subscriptionMax is how long the fan-out proxy lets a SubscribeToShard
	// stream last (Kinesis: 5 minutes).
	subscriptionMax = 3 * time.Second
)

// The native worker's two retrieval modes: the tests that take a mode run
// the same processor and checks with both.
var retrievalModes = []string{"polling", "fanout"}

// modeFlags are the perrecord -native flags of a retrieval mode: with
// fanout, enhanced fan-out with a consumer named after the application,
// through the fan-out proxy in front of kinesis-local, over HTTP/2 as to
// Kinesis (see worker's package documentation).
func modeFlags(ep endpoints, mode, app string) []string {
	if mode != "fanout" {
		return []string{"-retrieval", "polling"}
	}
	return []string{"-retrieval", "fanout", "-consumer", app + "-efo", "-kinesis-endpoint", ep.kinesisFanOut, "-kinesis-h2c"}
}

// checkFanOut checks that fan-out workers read by fan-out.
func checkFanOut(t *testing.T, mode string, ws ...*nativeWorker) {
	t.Helper()
	if mode != "fanout" {
		return
	}
	for _, w := range ws {
		if !w.logHas("reading with enhanced fan-out") {
			t.Errorf("worker %s did not read with enhanced fan-out (see %s)", w.id, w.logPath)
		}
	}
}

// resubscribed is whether a fan-out worker subscribed again after a
// subscription ended.
func (w *nativeWorker) resubscribed() bool { return w.logHas("subscription ended; subscribing again") }

var nativeBuild struct {
	once sync.Once
	path string
	err  error
}

// nativeBinary builds the perrecord sample (the binary that runs under the
// daemon or, with -native, as the native worker).
func nativeBinary(t *testing.T) string {
	t.Helper()
	nativeBuild.once.Do(func() {
		nativeBuild.path = filepath.Join(env.bin, "perrecord")
		if out, err := runIn(env.root, 3*time.Minute, nil, "go", "build", "-o", nativeBuild.path, "./samples/perrecord"); err != nil {
			nativeBuild.err = fmt.Errorf("go build ./samples/perrecord: %v\n%s", err, out)
		}
	})
	if nativeBuild.err != nil {
		t.Fatal(nativeBuild.err)
	}
	return nativeBuild.path
}

// nativeWorker is one native worker process.
type nativeWorker struct {
	t       *testing.T
	id      string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startNative starts a native worker with id on stream and app; recordLog
// receives what its processors did; env adds to the children's environment.
func startNative(t *testing.T, ep endpoints, app, stream, id, recordLog string, extraEnv []string, flags ...string) *nativeWorker {
	t.Helper()
	bin := nativeBinary(t)
	w := &nativeWorker{t: t, id: id, logPath: filepath.Join(t.TempDir(), id+".log"), done: make(chan struct{})}
	args := []string{"-native", "-stream", stream, "-app", app, "-worker-id", id,
		"-kinesis-endpoint", ep.kinesisHTTP1, "-dynamodb-endpoint", ep.dynamo,
		"-failover", nativeFailover.String(), "-idle", "200ms", "-parent-poll", "500ms", "-shard-sync", "2s"}
	args = append(args, flags...)
	logf, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	w.cmd = exec.Command(bin, args...)
	w.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "KCLGO_LOG_LEVEL=info")
	w.cmd.Env = append(w.cmd.Env, childEnv(recordLog)...)
	w.cmd.Env = append(w.cmd.Env, extraEnv...)
	w.cmd.Stdout, w.cmd.Stderr = logf, logf
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = w.cmd.Wait()
		logf.Close()
		close(w.done)
	}()
	t.Logf("native worker %s: pid %d, log %s", id, w.cmd.Process.Pid, w.logPath)
	t.Cleanup(func() {
		w.signal(syscall.SIGCONT)
		w.signal(syscall.SIGKILL)
		<-w.done
		if t.Failed() || os.Getenv("KCLGO_E2E_VERBOSE") != "" {
			b, _ := os.ReadFile(w.logPath)
			lines := strings.Split(string(b), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("last lines of %s:\n%s", w.logPath, strings.Join(lines, "\n"))
		}
	})
	return w
}

func (w *nativeWorker) signal(s syscall.Signal) { _ = w.cmd.Process.Signal(s) }

// stop shuts the worker down gracefully (SIGTERM: ShutdownRequested, then
// the leases are released) and waits for it.
func (w *nativeWorker) stop() {
	w.signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(40 * time.Second):
		w.t.Errorf("native worker %s did not exit within 40 s of SIGTERM", w.id)
		w.signal(syscall.SIGKILL)
		<-w.done
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		w.t.Errorf("native worker %s exited with %d after SIGTERM", w.id, code)
	}
}

// kill SIGKILLs the worker.
func (w *nativeWorker) kill() {
	w.signal(syscall.SIGKILL)
	<-w.done
}

// logHas reports whether the worker's log has a line with every one of subs.
func (w *nativeWorker) logHas(subs ...string) bool {
	f, err := os.Open(w.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(sc.Text(), s)
		}
		if ok {
			return true
		}
	}
	return false
}

// leaseOwners returns the number of leases of app each owner holds ("" =
// free), or nil while the table cannot be read.
func leaseOwners(t *testing.T, ep endpoints, app string) map[string]int {
	t.Helper()
	ls, err := leases(ep, app)
	if err != nil {
		return nil
	}
	m := map[string]int{}
	for _, l := range ls {
		m[l.owner]++
	}
	return m
}

// rawRows returns each lease row's attribute names with their DynamoDB types.
func rawRows(t *testing.T, ep endpoints, app string) map[string]map[string]string {
	t.Helper()
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.dynamo), Credentials: awsCreds()})
	out, err := c.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(app), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatalf("scan %s: %v", app, err)
	}
	rows := map[string]map[string]string{}
	for _, it := range out.Items {
		m := map[string]string{}
		for k, v := range it {
			switch v.(type) {
			case *ddbtypes.AttributeValueMemberS:
				m[k] = "S"
			case *ddbtypes.AttributeValueMemberN:
				m[k] = "N"
			case *ddbtypes.AttributeValueMemberSS:
				m[k] = "SS"
			case *ddbtypes.AttributeValueMemberB:
				m[k] = "B"
			default:
				m[k] = fmt.Sprintf("%T", v)
			}
		}
		rows[attr(it["leaseKey"])] = m
	}
	return rows
}

// pos is a record's place in its shard, for ordering.
type pos struct{ seq, sub string }

func (a pos) less(b pos) bool {
	if a.seq != b.seq {
		return seqLess(a.seq, b.seq)
	}
	x, _ := strconv.Atoi(a.sub)
	y, _ := strconv.Atoi(b.sub)
	return x < y
}

// checkRedelivery checks the at-least-once contract across the record logs
// of every process that worked on the stream: a lease always starts (the
// processor's Initialize) at or after every checkpoint of its shard logged
// before it started, and a processor never gets a record at or below the
// position its lease started from. So records are delivered again only
// after the last checkpoint. It fails t otherwise and returns the number of
// repeated deliveries, which it logs.
func checkRedelivery(t *testing.T, logs ...[]logLine) int {
	t.Helper()
	type ck struct {
		p  pos
		at int64
	}
	var cks []struct {
		shard string
		ck
	}
	for _, lines := range logs {
		for _, l := range lines {
			if l.kind == 'C' && l.seq != "" && l.at != 0 {
				cks = append(cks, struct {
					shard string
					ck
				}{l.shard, ck{pos{l.seq, l.sub}, l.at}})
			}
		}
	}
	numeric := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	seen := map[string]int{}
	dups, bad := 0, 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 5 {
			t.Errorf(format, args...)
		}
	}
	for _, lines := range logs {
		start := map[string]pos{} // the position each lease of this process started from
		for _, l := range lines {
			switch l.kind {
			case 'I':
				p := pos{l.seq, l.sub}
				start[l.shard] = p
				for _, c := range cks {
					if c.shard == l.shard && c.at < l.at && (!numeric(p.seq) || p.less(c.p)) {
						fail("shard %s started at %s/%s after the checkpoint %s/%s was written", l.shard, p.seq, p.sub, c.p.seq, c.p.sub)
					}
				}
			case 'R':
				key := l.shard + "/" + l.seq + "/" + l.sub
				if seen[key]++; seen[key] > 1 {
					dups++
				}
				if p, ok := start[l.shard]; ok && numeric(p.seq) && !p.less(pos{l.seq, l.sub}) {
					fail("record %s (shard %s %s/%s) delivered at or below the lease's start %s/%s", l.pk, l.shard, l.seq, l.sub, p.seq, p.sub)
				}
			}
		}
	}
	t.Logf("duplicates: %d repeated deliveries, all after the last checkpoint of their shard", dups)
	return dups
}

// TestNativeDelivery: one native worker delivers 10,000 records on 4 shards,
// half KPL-aggregated, each with its own data, put in two halves (with
// fan-out, the second across subscriptions the proxy ends), none twice; every lease ends at its
// shard's last record; the rows have the attribute names and types the real
// daemon writes (a KCL 2.7.2 daemon writes a row in the same run). Run on
// moto's DynamoDB and on dynalite.
func TestNativeDelivery(t *testing.T) {
	need(t)
	for _, tc := range []struct {
		name, mode string
		ep         endpoints
	}{{"moto", "polling", env.native}, {"dynalite", "polling", env.nativeDL}, {"moto", "fanout", env.native}} {
		t.Run(tc.name+"_"+tc.mode, func(t *testing.T) {
			t.Parallel()
			stream, app := unique("nd-stream"), unique("nd-app")
			produce(t, tc.ep, stream, 4, 0, 5000, "-aggregated", "2500")
			rl := filepath.Join(t.TempDir(), "records.log")
			w := startNative(t, tc.ep, app, stream, "w1", rl, nil, modeFlags(tc.ep, tc.mode, app)...)
			waitAll(t, rl, 0, 5000, 3*time.Minute)
			if tc.mode == "fanout" {
				// The proxy ends every subscription after subscriptionMax: the
				// second half arrives across resubscriptions, which must
				// neither skip nor repeat a record.
				waitFor(t, time.Minute, "a subscription ended and renewed", w.resubscribed)
			}
			produce(t, tc.ep, stream, 0, 5000, 5000, "-aggregated", "2500")
			waitAll(t, rl, 0, 10000, 3*time.Minute)
			w.stop()
			lines := readLog(t, rl)
			if dups := checkRedelivery(t, lines); dups != 0 {
				t.Errorf("%d records delivered twice by one worker without a restart (resubscriptions must not repeat records)", dups)
			}
			checkFanOut(t, tc.mode, w)
			if ok, diff := checkpointsAtEnd(tc.ep, app, lastSeq(lines)); !ok {
				t.Errorf("checkpoints not at the last records: %s", diff)
			}
			if tc.name != "moto" || tc.mode != "polling" {
				return
			}
			// The same row, written by the real daemon.
			jstream, japp := unique("nd-jstream"), unique("nd-japp")
			produce(t, tc.ep, jstream, 1, 0, 20)
			jl := filepath.Join(t.TempDir(), "java.log")
			d := startDaemon(t, 2, props(2, tc.ep, japp, jstream, nativeBinary(t), map[string]string{
				"retrievalMode": "POLLING"}), childEnv(jl))
			waitAll(t, jl, 0, 20, 2*time.Minute, d)
			waitFor(t, time.Minute, "the daemon's checkpoint", func() bool {
				ls, _ := leases(tc.ep, japp)
				return len(ls) == 1 && strings.HasPrefix(ls["shardId-000000000000"].checkpoint, "4")
			})
			java := rawRows(t, tc.ep, japp)["shardId-000000000000"]
			ours := rawRows(t, tc.ep, app)["shardId-000000000000"]
			t.Logf("row written by KCL 2.7.2:         %v", java)
			t.Logf("row written by the native worker:     %v", ours)
			for k, typ := range ours {
				if java[k] != typ {
					t.Errorf("attribute %s: native worker writes %s, the Java KCL %q", k, typ, java[k])
				}
			}
			for k := range java {
				switch k {
				case "leaseOwner": // ours was released at shutdown
				case "throughputKBps": // KCL 3.x only (not written by 2.7.2)
				default:
					if _, ok := ours[k]; !ok {
						t.Errorf("attribute %s written by the Java KCL is missing from the native worker's row", k)
					}
				}
			}
		})
	}
}

// TestNativeScaleOut: two, then three native workers split 6 leases by fair
// share; kill -9 of one: its leases are taken within 2 × failover plus a
// renewal interval (plus slack for a loaded machine); nothing is lost;
// duplicates only after the last checkpoint.
func TestNativeScaleOut(t *testing.T) {
	need(t)
	t.Parallel()
	ep := env.native
	stream, app := unique("ns-stream"), unique("ns-app")
	produce(t, ep, stream, 6, 0, 600)
	dir := t.TempDir()
	logs := []string{filepath.Join(dir, "w1.log"), filepath.Join(dir, "w2.log"), filepath.Join(dir, "w3.log")}
	w1 := startNative(t, ep, app, stream, "w1", logs[0], nil)
	waitFor(t, time.Minute, "w1 holding 6 leases", func() bool { return leaseOwners(t, ep, app)["w1"] == 6 })
	w2 := startNative(t, ep, app, stream, "w2", logs[1], nil)
	waitFor(t, time.Minute, "w1 and w2 holding 3 leases each", func() bool {
		o := leaseOwners(t, ep, app)
		return o["w1"] == 3 && o["w2"] == 3
	})
	produce(t, ep, stream, 0, 600, 600)
	w3 := startNative(t, ep, app, stream, "w3", logs[2], nil)
	waitFor(t, time.Minute, "2 leases each for w1, w2, w3", func() bool {
		o := leaseOwners(t, ep, app)
		return o["w1"] == 2 && o["w2"] == 2 && o["w3"] == 2
	})
	produce(t, ep, stream, 0, 1200, 600)
	waitFor(t, time.Minute, "w3 processing", func() bool { return len(keys(readLog(t, logs[2]))) > 0 })

	w3.kill()
	killed := time.Now()
	var took time.Duration
	waitFor(t, time.Minute, "w3's leases taken by w1 and w2", func() bool {
		o := leaseOwners(t, ep, app)
		if o["w3"] == 0 && o["w1"]+o["w2"] == 6 {
			took = time.Since(killed)
			return true
		}
		return false
	})
	bound := 2*nativeFailover + nativeRenewal
	t.Logf("w3's leases were taken %v after kill -9 (bound 2 × failover + renewal interval = %v)", took.Round(10*time.Millisecond), bound)
	if took > bound+2*time.Second {
		t.Errorf("takeover took %v, more than %v (+2 s slack)", took, bound)
	}
	produce(t, ep, stream, 0, 1800, 600)
	var all []logLine
	waitFor(t, 2*time.Minute, "2400 records", func() bool {
		all = nil
		for _, l := range logs {
			all = append(all, readLog(t, l)...)
		}
		return len(missing(keys(all), 0, 2400)) == 0
	})
	w1.stop()
	w2.stop()
	checkRedelivery(t, readLog(t, logs[0]), readLog(t, logs[1]), readLog(t, logs[2]))
}

// TestNativeZombie: a native worker paused (SIGSTOP) past the failover time
// loses its leases to another; resumed (SIGCONT), its next checkpoint fails,
// its processors get LeaseLost, and the rows keep the new owner's
// checkpoints.
func TestNativeZombie(t *testing.T) {
	need(t)
	t.Parallel()
	ep := env.native
	stream, app := unique("nz-stream"), unique("nz-app")
	produce(t, ep, stream, 2, 0, 2000)
	dir := t.TempDir()
	l1, l2 := filepath.Join(dir, "w1.log"), filepath.Join(dir, "w2.log")
	// A slow handler and a checkpoint after every record: the zombie is
	// paused inside a handler and checkpoints as soon as it resumes.
	slow := []string{"KCLGO_SAMPLE_SLEEP_MS=10", "KCLGO_CHECKPOINT_EVERY=1"}
	w1 := startNative(t, ep, app, stream, "w1", l1, slow)
	waitFor(t, time.Minute, "w1 checkpointing both shards", func() bool {
		n := map[string]bool{}
		for _, l := range readLog(t, l1) {
			if l.kind == 'C' {
				n[l.shard] = true
			}
		}
		return len(n) == 2
	})
	w1.signal(syscall.SIGSTOP)
	paused := len(readLog(t, l1))
	w2 := startNative(t, ep, app, stream, "w2", l2, []string{"KCLGO_CHECKPOINT_EVERY=20"})
	waitFor(t, time.Minute, "w2 holding both leases", func() bool { return leaseOwners(t, ep, app)["w2"] == 2 })
	waitFor(t, time.Minute, "w2 checkpointing both shards", func() bool {
		n := map[string]bool{}
		for _, l := range readLog(t, l2) {
			if l.kind == 'C' {
				n[l.shard] = true
			}
		}
		return len(n) == 2
	})
	w1.signal(syscall.SIGCONT)
	waitFor(t, 30*time.Second, "LeaseLost for both shards in w1", func() bool {
		n := 0
		for _, l := range readLog(t, l1) {
			if l.kind == 'L' {
				n++
			}
		}
		return n == 2
	})
	// Its next checkpoint failed: refused by the table's condition
	// (ShutdownException), or, when its renewer found the lease expired
	// first, refused before the write (kcl.ErrShutdown: "lease no longer
	// held").
	if !w1.logHas("checkpoint", "ShutdownException") && !w1.logHas("checkpoint", "lease no longer held") {
		t.Errorf("the zombie's checkpoints did not fail with ErrShutdown (see %s)", w1.logPath)
	}
	// What the zombie logged after it resumed: a checkpoint whose write
	// reached the table before the pause (its answer arrived after it)
	// may show, but none beyond where the new owner started; after the
	// zombie takes a lease anew (the fair share of two workers), it
	// checkpoints that lease as its owner.
	w2start := map[string]pos{}
	for _, l := range readLog(t, l2) {
		if _, ok := w2start[l.shard]; !ok && l.kind == 'I' {
			w2start[l.shard] = pos{l.seq, l.sub}
		}
	}
	retaken := map[string]bool{}
	for _, l := range readLog(t, l1)[paused:] {
		switch {
		case l.kind == 'I':
			retaken[l.shard] = true
		case l.kind == 'C' && !retaken[l.shard] && l.seq != "":
			if st, ok := w2start[l.shard]; ok && st.less(pos{l.seq, l.sub}) {
				t.Errorf("the zombie checkpointed %s/%s beyond where the new owner started (%s/%s)", l.seq, l.sub, st.seq, st.sub)
			}
		}
	}
	var all []logLine
	waitFor(t, 2*time.Minute, "2000 records", func() bool {
		all = append(readLog(t, l1), readLog(t, l2)...)
		return len(missing(keys(all), 0, 2000)) == 0
	})
	w2.stop()
	w1.stop()
	// The rows hold the last checkpoint written, by time, whoever wrote it
	// (the zombie may take a lease anew for the fair share of two).
	last := map[string]string{}
	lastAt := map[string]int64{}
	for _, l := range append(readLog(t, l1), readLog(t, l2)...) {
		if l.kind == 'C' && l.seq != "" && l.at > lastAt[l.shard] {
			last[l.shard], lastAt[l.shard] = l.seq, l.at
		}
	}
	ls, err := leases(ep, app)
	if err != nil {
		t.Fatal(err)
	}
	for shard, seq := range last {
		if ls[shard].checkpoint != seq {
			t.Errorf("%s: row checkpoint %s, the last checkpoint logged %s", shard, ls[shard].checkpoint, seq)
		}
	}
	checkRedelivery(t, readLog(t, l1), readLog(t, l2))
}

// TestNativeResharding: a split and a merge while records flow: children
// are processed only after their parents ended, every record is delivered,
// and the parents end at SHARD_END.
func TestNativeResharding(t *testing.T) {
	need(t)
	for _, mode := range retrievalModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			nativeResharding(t, mode)
		})
	}
}

func nativeResharding(t *testing.T, mode string) {
	ep := env.native
	stream, app := unique("nr-stream"), unique("nr-app")
	produce(t, ep, stream, 2, 0, 500)
	rl := filepath.Join(t.TempDir(), "records.log")
	w := startNative(t, ep, app, stream, "w1", rl, nil, modeFlags(ep, mode, app)...)
	waitFor(t, time.Minute, "records from both shards", func() bool { return len(lastSeq(readLog(t, rl))) == 2 })

	kc := kinesisClient(ep)
	ctx := context.Background()
	shards := func() map[string]string { // id → starting hash key
		out, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, s := range out.Shards {
			m[aws.ToString(s.ShardId)] = aws.ToString(s.HashKeyRange.StartingHashKey)
		}
		return m
	}
	active := func() {
		waitFor(t, 30*time.Second, "the stream ACTIVE", func() bool {
			out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
			return err == nil && out.StreamDescriptionSummary.StreamStatus == "ACTIVE"
		})
	}
	// Split shard 0 at the middle of its range: children 2 (low) and 3 (high).
	if _, err := kc.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String(stream),
		ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("42535295865117307932921825928971026432")}); err != nil {
		t.Fatal(err)
	}
	active()
	produce(t, ep, stream, 0, 500, 500)
	// Merge child 3 (upper half of shard 0) with shard 1, its neighbour.
	if _, err := kc.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String(stream),
		ShardToMerge: aws.String("shardId-000000000003"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
		t.Fatal(err)
	}
	active()
	t.Logf("shards after a split and a merge: %v", shards())
	produce(t, ep, stream, 0, 1000, 500)
	waitAll(t, rl, 0, 1500, 3*time.Minute)
	waitFor(t, time.Minute, "SHARD_END on shards 0, 1 and 3", func() bool {
		ls, _ := leases(ep, app)
		return ls["shardId-000000000000"].checkpoint == "SHARD_END" && ls["shardId-000000000001"].checkpoint == "SHARD_END" &&
			ls["shardId-000000000003"].checkpoint == "SHARD_END"
	})
	w.stop()
	checkFanOut(t, mode, w)
	lines := readLog(t, rl)
	// Children after parents: a child's first record comes after its
	// parents' SHARD_END checkpoint in the log.
	parents := map[string][]string{
		"shardId-000000000002": {"shardId-000000000000"},
		"shardId-000000000003": {"shardId-000000000000"},
		"shardId-000000000004": {"shardId-000000000001", "shardId-000000000003"},
	}
	end := map[string]int{}
	first := map[string]int{}
	for i, l := range lines {
		if l.kind == 'C' && l.seq == "" {
			end[l.shard] = i
		}
		if _, ok := first[l.shard]; !ok && l.kind == 'R' {
			first[l.shard] = i
		}
	}
	for child, ps := range parents {
		fi, ok := first[child]
		if !ok {
			if child != "shardId-000000000003" { // may have got no records before the merge
				t.Errorf("no records from %s", child)
			}
			continue
		}
		for _, p := range ps {
			if e, ok := end[p]; !ok || e > fi {
				t.Errorf("%s's first record (line %d) before its parent %s ended (line %d, seen %v)", child, fi, p, e, ok)
			}
		}
	}
	ls, _ := leases(ep, app)
	rows := rawRows(t, ep, app)
	for child, ps := range parents {
		if rows[child]["parentShardId"] != "SS" {
			t.Errorf("%s: parentShardId is %q, want a string set", child, rows[child]["parentShardId"])
		}
		_ = ps
	}
	for _, p := range []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000003"} {
		if rows[p]["childShardIds"] != "SS" {
			t.Errorf("%s: childShardIds missing at its end (row %v)", p, rows[p])
		}
	}
	keysOf := make([]string, 0, len(ls))
	for k := range ls {
		keysOf = append(keysOf, k+"="+ls[k].checkpoint)
	}
	sort.Strings(keysOf)
	t.Logf("leases at the end: %v", keysOf)
	checkRedelivery(t, lines)
}

// TestNativeRestartInAggregate: a checkpoint at (sequence, sub-sequence) in
// the middle of a KPL aggregate, kill -9, restart: delivery resumes at the
// next user record of that aggregate.
func TestNativeRestartInAggregate(t *testing.T) {
	need(t)
	for _, mode := range retrievalModes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			nativeRestartInAggregate(t, mode)
		})
	}
}

func nativeRestartInAggregate(t *testing.T, mode string) {
	ep := env.native
	stream, app := unique("na-stream"), unique("na-app")
	produce(t, ep, stream, 1, 0, 3000, "-aggregated", "3000")
	dir := t.TempDir()
	l1, l2 := filepath.Join(dir, "run1.log"), filepath.Join(dir, "run2.log")
	w := startNative(t, ep, app, stream, "w1", l1, []string{"KCLGO_SAMPLE_SLEEP_MS=1", "KCLGO_CHECKPOINT_EVERY=7"}, modeFlags(ep, mode, app)...)
	waitFor(t, time.Minute, "a checkpoint inside an aggregate", func() bool {
		for _, l := range readLog(t, l1) {
			if l.kind == 'C' && l.sub != "" && l.sub != "0" {
				return true
			}
		}
		return false
	})
	w.kill()
	ls, err := leases(ep, app)
	if err != nil {
		t.Fatal(err)
	}
	ck := ls["shardId-000000000000"]
	if ck.sub == "0" || ck.sub == "" {
		t.Fatalf("the lease's checkpoint %s/%s is not inside an aggregate", ck.checkpoint, ck.sub)
	}
	t.Logf("killed with the checkpoint at %s/%s", ck.checkpoint, ck.sub)
	w2 := startNative(t, ep, app, stream, "w2", l2, nil, modeFlags(ep, mode, app)...)
	var lines2 []logLine
	waitFor(t, 2*time.Minute, "3000 records", func() bool {
		lines2 = readLog(t, l2)
		return len(missing(keys(append(readLog(t, l1), lines2...)), 0, 3000)) == 0
	})
	w2.stop()
	lines2 = readLog(t, l2)
	var firstR *logLine
	for i := range lines2 {
		if lines2[i].kind == 'R' {
			firstR = &lines2[i]
			break
		}
	}
	sub, _ := strconv.Atoi(ck.sub)
	if firstR == nil || firstR.seq != ck.checkpoint || firstR.sub != strconv.Itoa(sub+1) {
		t.Errorf("after the restart delivery began at %+v, want %s/%d (the next user record)", firstR, ck.checkpoint, sub+1)
	}
	checkRedelivery(t, readLog(t, l1), lines2)
}

// TestNativeInterop shares one lease table between the Java KCL and the
// native worker, on kinesis-local and moto. The Java side is a
// MultiLangDaemon with a kclgo child (the same perrecord binary): KCL 2.7.2,
// the newest 2.x Maven Central serves here (the 2.x lease protocol the
// worker speaks), and KCL 3.1.3 in its 2.x-compatible client version
// (clientVersionConfig = CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X), for (a)
// Java then native, (b) native then Java and (c) both at once; and in (d)
// KCL 3.1.3 in its default 3.x mode, whose table the native worker takes
// over.
func TestNativeInterop(t *testing.T) {
	need(t)
	ep := env.native
	type step func(t *testing.T, app, stream, log string) func()
	java := func(kcl int, extra map[string]string) step {
		return func(t *testing.T, app, stream, log string) func() {
			d := startDaemon(t, kcl, props(kcl, ep, app, stream, nativeBinary(t), extra), childEnv(log))
			return func() {
				if code := d.stop(60 * time.Second); code != 0 && code != 143 {
					t.Logf("daemon exited with %d", code)
				}
			}
		}
	}
	native := func(t *testing.T, app, stream, log string) func() {
		w := startNative(t, ep, app, stream, unique("native"), log, nil)
		return w.stop
	}
	// Sequential hand-over: the first consumes 0..999 and stops, the second
	// resumes from its checkpoints and consumes the rest.
	handover := func(first, second step) func(t *testing.T) {
		return func(t *testing.T) {
			t.Parallel()
			stream, app := unique("ni-stream"), unique("ni-app")
			produce(t, ep, stream, 4, 0, 1000, "-aggregated", "500")
			dir := t.TempDir()
			l1, l2 := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
			stop := first(t, app, stream, l1)
			waitAll(t, l1, 0, 1000, 3*time.Minute)
			stop()
			before, _ := leases(ep, app)
			produce(t, ep, stream, 0, 1000, 1000, "-aggregated", "500")
			stop = second(t, app, stream, l2)
			waitFor(t, 3*time.Minute, "2000 records", func() bool {
				return len(missing(keys(append(readLog(t, l1), readLog(t, l2)...)), 0, 2000)) == 0
			})
			stop()
			after, _ := leases(ep, app)
			for k, l := range before {
				t.Logf("%s: first checkpoint %s/%s, after the second %s/%s", k, l.checkpoint, l.sub, after[k].checkpoint, after[k].sub)
			}
			dups := checkRedelivery(t, readLog(t, l1), readLog(t, l2))
			if dups > 1000 {
				t.Errorf("%d duplicates: the second consumer did not resume from the first's checkpoints", dups)
			}
		}
	}
	javas := []struct {
		name string
		step step
	}{
		{"kcl2.7.2", java(2, map[string]string{"retrievalMode": "POLLING"})},
		{"kcl3.1.3-2x", java(3, map[string]string{"clientVersionConfig": "CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X"})},
	}
	for _, j := range javas {
		t.Run("a_"+j.name+"_then_native", handover(j.step, native))
		t.Run("b_native_then_"+j.name, handover(native, j.step))
		t.Run("c_"+j.name+"_and_native_at_once", atOnce(j.step))
	}
	t.Run("d_kcl3.1.3_default_then_native", handover(java(3, nil), native))
}

// atOnce is TestNativeInterop's (c): a Java and a native worker share the
// leases of one stream at the same time and deliver everything.
func atOnce(java func(t *testing.T, app, stream, log string) func()) func(t *testing.T) {
	ep := env.native
	return func(t *testing.T) {
		t.Parallel()
		stream, app := unique("ni-stream"), unique("ni-app")
		produce(t, ep, stream, 4, 0, 1000)
		dir := t.TempDir()
		lj, ln := filepath.Join(dir, "java.log"), filepath.Join(dir, "native.log")
		stopJava := java(t, app, stream, lj)
		w := startNative(t, ep, app, stream, "native-c", ln, nil)
		var o map[string]int
		waitFor(t, 3*time.Minute, "the Java and the native worker both holding leases", func() bool {
			o = leaseOwners(t, ep, app)
			return o["native-c"] >= 1 && o["native-c"] < 4 && o[""] == 0 && len(o) == 2
		})
		t.Logf("lease owners while both run: %v", o)
		produce(t, ep, stream, 0, 1000, 1000)
		waitFor(t, 3*time.Minute, "2000 records", func() bool {
			return len(missing(keys(append(readLog(t, lj), readLog(t, ln)...)), 0, 2000)) == 0
		})
		shards := func(path string) map[string]bool {
			m := map[string]bool{}
			for _, l := range readLog(t, path) {
				if l.kind == 'R' {
					m[l.shard] = true
				}
			}
			return m
		}
		t.Logf("shards processed by Java: %v; by the native worker: %v", shards(lj), shards(ln))
		w.stop()
		stopJava()
		checkRedelivery(t, readLog(t, lj), readLog(t, ln))
	}
}
