package kcltest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// myProcessor checkpoints after every batch; kcl.NopProcessor does the rest.
type myProcessor struct {
	kcl.NopProcessor
	records int
}

func (p *myProcessor) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	p.records += len(in.Records)
	return in.Checkpointer.Checkpoint(ctx)
}

func TestMyProcessor(t *testing.T) {
	d := &kcltest.Daemon{
		Script: kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{},
			kcltest.Records(0, 100, 0), kcltest.Records(100, 50, 0)),
		CheckpointErrors: []string{"ThrottlingException"}, // then the real daemon's rules
	}
	p := &myProcessor{}
	res := d.RunProcessor(context.Background(), p) // or d.RunCommand(ctx, exec.Command("./my-binary"))
	if res.DaemonErr != nil || res.ChildErr != nil {
		t.Fatalf("daemon: %v, child: %v\n%s", res.DaemonErr, res.ChildErr, res.Transcript)
	}
	if p.records != 150 || res.Transcript.Processed() != 150 {
		t.Errorf("processed %d records, acknowledged %d; want 150", p.records, res.Transcript.Processed())
	}
	// The throttled checkpoint was retried; then one per batch and the shard's end.
	want := []kcltest.Checkpoint{
		{During: "processRecords", Error: "ThrottlingException", Answered: true},
		{During: "processRecords", Answered: true},
		{During: "processRecords", Answered: true},
		{During: "shardEnded", Answered: true},
	}
	if got := res.Transcript.Checkpoints(); !slices.Equal(got, want) {
		t.Errorf("checkpoints:\n got %+v\nwant %+v", got, want)
	}
	if res.Checkpoint != "SHARD_END" {
		t.Errorf("stored checkpoint %q, want SHARD_END", res.Checkpoint)
	}
}
