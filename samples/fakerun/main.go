// Command fakerun runs a record processor binary under kclgo's fake daemon
// (package kcltest) with generated records, without Java or AWS, and prints
// what was exchanged and consumed:
//
//	go run ./samples/fakerun -records 1000 -batches 5 -- go run ./samples/perrecord
//
// It exits 0 when the child consumed every record and answered every action.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
	"github.com/kclgo/kclgo/samples/internal/recordlog"
)

func main() {
	records := flag.Int("records", 1000, "records in all")
	batches := flag.Int("batches", 5, "processRecords batches")
	size := flag.Int("size", 100, "bytes per record")
	end := flag.String("end", "shardEnded", "how the shard ends: shardEnded, leaseLost or shutdownRequested")
	verbose := flag.Bool("v", false, "print the whole transcript")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: fakerun [flags] -- CHILD COMMAND...")
		os.Exit(2)
	}
	os.Exit(run(*records, *batches, *size, *end, *verbose, flag.Args()))
}

func run(records, batches, size int, end string, verbose bool, command []string) int {
	logFile, err := os.CreateTemp("", "kclgo-fakerun-*.log")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.Remove(logFile.Name())
	logFile.Close()

	script := []protocol.Message{kcltest.Initialize("shardId-000000000000")}
	per := (records + batches - 1) / batches
	for first := 0; first < records; first += per {
		script = append(script, kcltest.Batch(kcltest.Records(first, min(per, records-first), size)...))
	}
	switch end {
	case "leaseLost":
		script = append(script, protocol.LeaseLost{})
	case "shutdownRequested":
		script = append(script, protocol.ShutdownRequested{}, protocol.LeaseLost{})
	default:
		script = append(script, protocol.ShardEnded{})
	}

	cmd := exec.Command(command[0], command[1:]...)
	cmd.Env = append(os.Environ(), recordlog.Env+"="+logFile.Name(), "KCLGO_CHECKPOINT_SECONDS=0")
	cmd.Stderr = os.Stderr
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	res := (&kcltest.Daemon{Script: script, Timeout: 2 * time.Minute}).RunCommand(ctx, cmd)
	elapsed := time.Since(start)

	summary := res.Transcript.Summary()
	if verbose {
		fmt.Println(strings.Join(summary, "\n"))
	}
	consumed, checkpoints := countLog(logFile.Name())
	fmt.Printf("lines exchanged: %d, records sent: %d, records consumed: %d, checkpoints: %d, final checkpoint: %s, time: %s\n",
		len(summary), records, consumed, checkpoints, res.Checkpoint, elapsed.Round(time.Millisecond))
	if res.DaemonErr != nil || res.ChildErr != nil || consumed != records {
		fmt.Printf("FAILED: daemon: %v, child: %v\n", res.DaemonErr, res.ChildErr)
		return 1
	}
	return 0
}

func countLog(path string) (records, checkpoints int) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		switch {
		case strings.HasPrefix(s.Text(), "R\t"):
			records++
		case strings.HasPrefix(s.Text(), "C\t"):
			checkpoints++
		}
	}
	return records, checkpoints
}
