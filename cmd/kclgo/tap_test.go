package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// buildSample builds samples/batch into a temporary folder.
func buildSample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "batch")
	if out, err := exec.Command("go", "build", "-o", bin, "../../samples/batch").CombinedOutput(); err != nil {
		t.Fatalf("go build samples/batch: %v\n%s", err, out)
	}
	return bin
}

// listenProgress serves a progress on a Unix socket in a temporary folder.
func listenProgress(t *testing.T) (*progress, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tap.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := newProgress()
	go p.serve(ln)
	return p, sock
}

// waitCounts polls p until cond holds or 10 s passed.
func waitCounts(p *progress, cond func([]shardCount) bool) []shardCount {
	for i := 0; i < 200; i++ {
		if cs := p.counts(); cond(cs) {
			return cs
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p.counts()
}

// TestTapTransparent runs the sample through kclgo tap under the fake
// daemon: the conversation is the one without the tap (the tap forwards
// byte for byte), and the tap's reports count every record delivered and
// the checkpoints the daemon accepted, a refused one excluded.
func TestTapTransparent(t *testing.T) {
	sample := buildSample(t)
	script := kcltest.Lifecycle("shardId-000000000007", protocol.ShardEnded{},
		kcltest.Records(0, 40, 0), kcltest.Records(40, 30, 2000), kcltest.Records(70, 30, 0))
	run := func(argv []string, env ...string) *kcltest.Result {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), append(env, "KCLGO_CHECKPOINT_SECONDS=0")...)
		d := &kcltest.Daemon{Script: script, CheckpointErrors: []string{"", protocol.ExceptionThrottling}, Timeout: 20 * time.Second}
		return d.RunCommand(context.Background(), cmd)
	}
	direct := run([]string{sample})
	p, sock := listenProgress(t)
	tapped := run([]string{kclgoBin, "tap", "--", sample}, tapSocketEnv+"="+sock)
	for _, r := range []*kcltest.Result{direct, tapped} {
		if r.DaemonErr != nil || r.ChildErr != nil {
			t.Fatalf("daemon: %v, child: %v\n%s\n%s", r.DaemonErr, r.ChildErr, r.Transcript, r.Stderr)
		}
	}
	raw := func(tr kcltest.Transcript) []string {
		var out []string
		for _, l := range tr {
			out = append(out, l.Raw)
		}
		return out
	}
	if !slices.Equal(raw(direct.Transcript), raw(tapped.Transcript)) {
		t.Errorf("the tap changed the conversation:\n%s\nwithout it:\n%s", tapped.Transcript, direct.Transcript)
	}
	if tapped.Checkpoint != "SHARD_END" {
		t.Errorf("stored checkpoint %q", tapped.Checkpoint)
	}
	cs := waitCounts(p, func(cs []shardCount) bool { return len(cs) == 1 && cs[0].Checkpoint == "SHARD_END" })
	want := []shardCount{{Shard: "shardId-000000000007", Delivered: 100, Checkpointed: 100, Checkpoint: "SHARD_END", Behind: 0, Last: "shardEnded"}}
	if !slices.Equal(cs, want) {
		t.Errorf("counts %+v, want %+v", cs, want)
	}
	var out strings.Builder
	ok, short := report(&out, 100, cs)
	if !ok || short != nil || !strings.Contains(out.String(), "records: put 100, delivered 100, checkpointed 100") {
		t.Errorf("report: %v %v\n%s", ok, short, out.String())
	}
}

// TestTapCheckpointPositions: the tap resolves a null checkpoint to the
// batch's last record, a refused one counts for nothing, and the report
// names the shard that fell short.
func TestTapCheckpointPositions(t *testing.T) {
	var reports strings.Builder
	tp := newTap(&reports)
	p := newProgress()
	daemon := func(m protocol.Message) { tp.fromDaemon(protocol.AppendMessage(nil, m)) }
	child := func(m protocol.Message) { tp.fromChild(protocol.AppendMessage(nil, m)) }
	seq := kcltest.SequenceNumber(4)
	daemon(kcltest.Initialize("shardId-000000000001"))
	daemon(kcltest.Batch(kcltest.Records(0, 10, 0)...))
	child(protocol.Checkpoint{SequenceNumber: &seq})
	daemon(protocol.Checkpoint{SequenceNumber: &seq}) // accepted: records 0..4
	child(protocol.Checkpoint{})
	daemon(protocol.Checkpoint{Error: protocol.ExceptionThrottling}) // refused
	for _, line := range strings.Split(strings.TrimSpace(reports.String()), "\n") {
		var e event
		if err := jsonUnmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		p.add(e)
	}
	cs := p.counts()
	if len(cs) != 1 || cs[0].Delivered != 10 || cs[0].Checkpointed != 5 || cs[0].Checkpoint != seq+"/0" {
		t.Fatalf("counts %+v", cs)
	}
	var out strings.Builder
	ok, short := report(&out, 10, cs)
	if ok || len(short) != 1 || !strings.Contains(short[0], "shardId-000000000001 checkpointed 5 of its 10 records") {
		t.Errorf("report: %v %q", ok, short)
	}
}
