package kcl_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/checkpointer"
	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// wordCounter is a batch-API processor: it counts bytes and checkpoints
// after each batch it finished.
type wordCounter struct{ bytes int }

func (w *wordCounter) Initialize(context.Context, kcl.InitializeInput) error { return nil }

func (w *wordCounter) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	for _, r := range in.Records {
		w.bytes += len(r.Data)
	}
	return in.Checkpointer.Checkpoint(ctx) // every record delivered is finished
}

func (w *wordCounter) LeaseLost(context.Context, kcl.LeaseLostInput) error { return nil }

func (w *wordCounter) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	return in.Checkpointer.Checkpoint(ctx)
}

func (w *wordCounter) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	return in.Checkpointer.Checkpoint(ctx)
}

// A processor binary's main: Run serves the daemon on stdin and stdout
// until the daemon closes stdin.
func ExampleRun() {
	if err := kcl.Run(context.Background(), &wordCounter{}); err != nil {
		os.Exit(1) // Run already logged the reason on stderr
	}
}

// Test a processor without Java: the fake daemon of package kcltest plays a
// script through the real protocol and records the conversation.
func Example_testWithFakeDaemon() {
	p := &wordCounter{}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{},
		kcltest.Records(0, 2, 0), kcltest.Records(2, 1, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	fmt.Println(res.Transcript)
	fmt.Println("bytes:", p.bytes, "checkpoint:", res.Checkpoint, "error:", res.ChildErr)
	// Output:
	// > initialize
	// < status initialize
	// > processRecords 2
	// < checkpoint null
	// > checkpoint ok
	// < status processRecords
	// > processRecords 1
	// < checkpoint null
	// > checkpoint ok
	// < status processRecords
	// > shardEnded
	// < checkpoint null
	// > checkpoint ok
	// < status shardEnded
	// bytes: 30 checkpoint: SHARD_END error: <nil>
}

// The per-record API: Handle is called once per record; the policy
// checkpoints every 500 records or every minute, whichever comes first, and
// PerRecord also checkpoints at shard end and on shutdown requested.
func ExamplePerRecord() {
	p := &kcl.PerRecord{
		Handle: func(ctx context.Context, r kcl.Record) (bool, error) {
			fmt.Printf("%s %s\n", r.PartitionKey, r.Data)
			return false, nil // true would checkpoint right after this record
		},
		Policy: checkpointer.Either(500, 60e9),
	}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{}, kcltest.Records(0, 2, 0))}
	res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
	fmt.Println("checkpoint:", res.Checkpoint)
	// Output:
	// pk-0 rec-000000
	// pk-1 rec-000001
	// checkpoint: SHARD_END
}

// printStore is a CheckpointTransport that stores checkpoints by printing
// them: a stand-in for another runtime's lease table.
type printStore struct{}

func (printStore) SendCheckpoint(_ context.Context, pos *kcl.Position) (string, error) {
	if pos == nil {
		fmt.Println("stored: after the last record delivered (at shard end: SHARD_END)")
		return "", nil
	}
	fmt.Println("stored:", pos)
	return "", nil
}

// A runtime other than Run (a native worker, say) drives a processor through
// an ActionRunner: the same retries, panic recovery, Checkpointer lifecycle
// and shard-end checkpoint as under the daemon, with its own transport.
func ExampleActionRunner() {
	p := &kcl.PerRecord{Handle: func(ctx context.Context, r kcl.Record) (bool, error) { return false, nil }}
	r := kcl.NewActionRunner(p, kcl.WithLogLevel(zerolog.Disabled))
	ctx := context.Background()
	if err := r.Initialize(ctx, kcl.InitializeInput{ShardID: "shardId-000000000000", SequenceNumber: protocol.SentinelTrimHorizon}); err != nil {
		fmt.Println(err)
		return
	}
	batch := kcl.ProcessRecordsInput{Records: []kcl.Record{
		{Data: []byte("a"), SequenceNumber: "49590"},
		{Data: []byte("b"), SequenceNumber: "49591"},
	}}
	if err := r.ProcessRecords(ctx, batch, printStore{}); err != nil {
		fmt.Println("not acknowledged:", err)
		return
	}
	if err := r.ShardEnded(ctx, printStore{}); err != nil {
		fmt.Println("not acknowledged:", err)
	}
	// Output:
	// stored: 49591/0
	// stored: after the last record delivered (at shard end: SHARD_END)
}

// counter needs two methods; kcl.NopProcessor provides the other three.
type counter struct {
	kcl.NopProcessor
	records int
}

func (c *counter) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	c.records += len(in.Records)
	return in.Checkpointer.Checkpoint(ctx)
}

func (c *counter) LeaseLost(context.Context, kcl.LeaseLostInput) error {
	fmt.Println("lease lost after", c.records, "records")
	return nil
}

// A processor that embeds NopProcessor writes only the methods it needs.
// At shard end Run checkpoints for it.
func ExampleNopProcessor() {
	c := &counter{}
	d := &kcltest.Daemon{Script: kcltest.Lifecycle("shardId-000000000000", protocol.LeaseLost{}, kcltest.Records(0, 3, 0), kcltest.Records(3, 2, 0))}
	res := d.RunProcessor(context.Background(), c)
	fmt.Println("checkpoint:", res.Checkpoint == kcltest.SequenceNumber(4)+"/0", "errors:", res.DaemonErr, res.ChildErr)
	// Output:
	// lease lost after 5 records
	// checkpoint: true errors: <nil> <nil>
}
