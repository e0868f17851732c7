package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

const fakeUsage = `usage: kclgo fake [flags] -- ./myproc [args...]

Runs your record processor under kclgo's fake daemon (package kcl/kcltest),
without Java or AWS: one shard, generated records in batches, then the end you
choose. It counts what the processor acknowledged and checkpointed from the
protocol transcript, and exits 0 when it answered every action and
acknowledged every record, 1 otherwise.

Flags:
`

// fakeCmd is kclgo fake.
func fakeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, fakeUsage); fs.PrintDefaults() }
	records := fs.Int("records", 1000, "records in all")
	batches := fs.Int("batches", 5, "processRecords batches")
	size := fs.Int("size", 100, "bytes per record")
	end := fs.String("end", "shardEnded", "how the shard ends: shardEnded, leaseLost or shutdownRequested")
	timeout := fs.Duration("timeout", 2*time.Minute, "longest wait for one answer of the processor")
	verbose := fs.Bool("v", false, "print the whole transcript")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "kclgo fake: name your processor after --, e.g. kclgo fake -- ./myproc")
		return 2
	}
	if *records < 0 || *batches < 1 {
		fmt.Fprintln(stderr, "kclgo fake: --records must not be negative, --batches at least 1")
		return 2
	}
	var last []protocol.Message
	switch *end {
	case "shardEnded":
		last = []protocol.Message{protocol.ShardEnded{}}
	case "leaseLost":
		last = []protocol.Message{protocol.LeaseLost{}}
	case "shutdownRequested":
		last = []protocol.Message{protocol.ShutdownRequested{}, protocol.LeaseLost{}}
	default:
		fmt.Fprintf(stderr, "kclgo fake: --end %q: want shardEnded, leaseLost or shutdownRequested\n", *end)
		return 2
	}
	script := []protocol.Message{kcltest.Initialize("shardId-000000000000")}
	per := max(1, (*records+*batches-1) / *batches)
	for first := 0; first < *records; first += per {
		script = append(script, kcltest.Batch(kcltest.Records(first, min(per, *records-first), *size)...))
	}
	script = append(script, last...)

	cmd := exec.CommandContext(ctx, fs.Arg(0), fs.Args()[1:]...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	res := (&kcltest.Daemon{Script: script, Timeout: *timeout}).RunCommand(ctx, cmd)
	elapsed := time.Since(start)

	t := res.Transcript
	if *verbose {
		fmt.Fprintln(stdout, strings.Join(t.Summary(), "\n"))
	}
	asked, accepted := t.Checkpoints(), t.Accepted()
	fmt.Fprintf(stdout, "records: sent %d, acknowledged %d; checkpoints: %d asked, %d accepted; stored checkpoint: %s; lines exchanged: %d; time: %s\n",
		*records, t.Processed(), len(asked), len(accepted), res.Checkpoint, len(t), elapsed.Round(time.Millisecond))
	var failures []string
	if res.DaemonErr != nil {
		failures = append(failures, res.DaemonErr.Error())
	}
	if res.ChildErr != nil {
		failures = append(failures, "the processor: "+res.ChildErr.Error())
	}
	if t.Processed() != *records {
		failures = append(failures, fmt.Sprintf("%d of %d records acknowledged", t.Processed(), *records))
	}
	if len(failures) > 0 {
		fmt.Fprintln(stdout, "FAILED:", strings.Join(failures, "; "))
		return 1
	}
	return 0
}
