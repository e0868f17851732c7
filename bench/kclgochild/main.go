// Command kclgochild is kclbench's kclgo child: a kcl record processor run by
// kcl.Run, as a user would write it. It counts every record's decoded bytes,
// checkpoints once per batch at its last record, and reports its counts on
// stderr for kclbench to check.
//
// -otel sdk records kclgo's metrics with the OpenTelemetry SDK (a
// ManualReader, collected once at the end: the cost of recording, without
// an exporter's); -otel noop passes the API's no-op provider. Without the
// flag no provider is passed, kclgo's default. Built with -tags nosdk the
// binary does not link the SDK (as a user's binary without metrics), and
// -otel sdk is refused.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/metric/noop"

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
	otel := flag.String("otel", "", "metrics: sdk (the OpenTelemetry SDK, a ManualReader), noop (the API's no-op provider), or none")
	flag.Parse()
	opts := []kcl.Option{kcl.WithLogLevel(zerolog.WarnLevel)}
	collect := func() error { return nil }
	switch *otel {
	case "sdk":
		mp, c, err := sdkProvider()
		if err != nil {
			fmt.Fprintln(os.Stderr, "kclgochild:", err)
			os.Exit(2)
		}
		opts, collect = append(opts, kcl.WithMeterProvider(mp)), c
	case "noop":
		opts = append(opts, kcl.WithMeterProvider(noop.NewMeterProvider()))
	case "":
	default:
		fmt.Fprintf(os.Stderr, "kclgochild: -otel %q: want sdk, noop or nothing\n", *otel)
		os.Exit(2)
	}
	c := &counter{}
	err := kcl.Run(context.Background(), c, opts...)
	fmt.Fprintf(os.Stderr, "kclbench: records=%d bytes=%d\n", c.records, c.bytes)
	if cerr := collect(); cerr != nil {
		fmt.Fprintln(os.Stderr, "kclgochild: collecting metrics:", cerr)
		os.Exit(1)
	}
	if err != nil {
		os.Exit(1)
	}
}
