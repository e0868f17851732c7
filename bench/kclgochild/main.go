// Command kclgochild is kclbench's kclgo child: a kcl record processor run by
// kcl.Run, as a user would write it. It counts every record's decoded bytes,
// checkpoints once per batch at its last record, and reports its counts on
// stderr for kclbench to check.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/rs/zerolog"

	"github.com/kclgo/kclgo/kcl"
)

type counter struct{ records, bytes int64 }

// Initialize implements kcl.RecordProcessor.
func (c *counter) Initialize(context.Context, kcl.InitializeInput) error { return nil }

// ProcessRecords implements kcl.RecordProcessor.
func (c *counter) ProcessRecords(ctx context.Context, in kcl.ProcessRecordsInput) error {
	for i := range in.Records {
		c.records++
		c.bytes += int64(len(in.Records[i].Data))
	}
	if n := len(in.Records); n > 0 {
		last := &in.Records[n-1]
		return in.Checkpointer.CheckpointAt(ctx, last.SequenceNumber, last.SubSequenceNumber)
	}
	return nil
}

// LeaseLost implements kcl.RecordProcessor.
func (c *counter) LeaseLost(context.Context, kcl.LeaseLostInput) error { return nil }

// ShardEnded implements kcl.RecordProcessor.
func (c *counter) ShardEnded(ctx context.Context, in kcl.ShardEndedInput) error {
	return in.Checkpointer.Checkpoint(ctx)
}

// ShutdownRequested implements kcl.RecordProcessor.
func (c *counter) ShutdownRequested(ctx context.Context, in kcl.ShutdownRequestedInput) error {
	return in.Checkpointer.Checkpoint(ctx)
}

func main() {
	if f := os.Getenv("KCLBENCH_CPUPROFILE"); f != "" {
		out, err := os.Create(f)
		if err == nil && pprof.StartCPUProfile(out) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	c := &counter{}
	err := kcl.Run(context.Background(), c, kcl.WithLogLevel(zerolog.WarnLevel))
	fmt.Fprintf(os.Stderr, "kclbench: records=%d bytes=%d\n", c.records, c.bytes)
	if err != nil {
		os.Exit(1)
	}
}
