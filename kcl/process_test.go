package kcl_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// These tests re-run the test binary as a real child process
// (TestHelperProcess), so stdout and signals are the process's own.

const helperEnv = "KCLGO_TEST_HELPER"

func helperCommand(t *testing.T, mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

// TestHelperProcess is not a real test: it is the child process of the
// tests below.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process only")
	}
	var p kcl.RecordProcessor
	opts := []kcl.Option{kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1})}
	switch mode {
	case "prints":
		p = &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			fmt.Println("stray fmt.Println")
			os.Stdout.WriteString("stray os.Stdout\n")
			syscall.Write(1, []byte("stray write(2) to fd 1\n"))
			return in.Checkpointer.Checkpoint(ctx)
		}}
	case "sigterm":
		p = &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			// The whole process group gets the signal mid-batch.
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			syscall.Kill(os.Getpid(), syscall.SIGINT)
			time.Sleep(100 * time.Millisecond)
			return in.Checkpointer.Checkpoint(ctx)
		}}
	case "grace":
		opts = append(opts, kcl.WithShutdownGrace(200*time.Millisecond))
		p = &fakeProcessor{process: func(ctx context.Context, in kcl.ProcessRecordsInput) error {
			syscall.Kill(os.Getpid(), syscall.SIGTERM)
			<-ctx.Done() // stuck until the grace period ends
			return ctx.Err()
		}}
	}
	if err := kcl.Run(context.Background(), p, opts...); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

func runHelper(t *testing.T, mode string, script []protocol.Message) *kcltest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := &kcltest.Daemon{Script: script, Timeout: 20 * time.Second}
	res := d.RunCommand(ctx, helperCommand(t, mode))
	t.Logf("transcript:\n%s\nstderr:\n%s", res.Transcript, res.Stderr)
	return res
}

func TestStrayStdoutGoesToStderr(t *testing.T) {
	res := runHelper(t, "prints", kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0)))
	require.NoError(t, res.DaemonErr)
	require.NoError(t, res.ChildErr)
	assert.Equal(t, []string{
		"> initialize", "< status initialize",
		"> processRecords 2", "< checkpoint null", "> checkpoint ok", "< status processRecords",
		"> leaseLost", "< status leaseLost",
	}, res.Transcript.Summary(), "no stray line reached the protocol")
	assert.Contains(t, res.Stderr, "stray fmt.Println")
	assert.Contains(t, res.Stderr, "stray os.Stdout")
	assert.Contains(t, res.Stderr, "stray write(2) to fd 1")
}

func TestSignalsDoNotInterruptABatch(t *testing.T) {
	res := runHelper(t, "sigterm", []protocol.Message{
		kcltest.Initialize(shard), kcltest.Batch(kcltest.Records(0, 2, 0)...), protocol.ShutdownRequested{}, protocol.LeaseLost{},
	})
	require.NoError(t, res.DaemonErr)
	require.NoError(t, res.ChildErr, "the child exits 0 once the daemon closed stdin")
	assert.Equal(t, []string{
		"> initialize", "< status initialize",
		"> processRecords 2", "< checkpoint null", "> checkpoint ok", "< status processRecords",
		"> shutdownRequested", "< checkpoint null", "> checkpoint ok", "< status shutdownRequested",
		"> leaseLost", "< status leaseLost",
	}, res.Transcript.Summary())
	assert.Contains(t, res.Stderr, "signal received; serving until the daemon closes stdin")
}

func TestShutdownGraceExpires(t *testing.T) {
	res := runHelper(t, "grace", kcltest.Lifecycle(shard, protocol.LeaseLost{}, kcltest.Records(0, 2, 0)))
	var exit *exec.ExitError
	require.ErrorAs(t, res.ChildErr, &exit)
	assert.Equal(t, 3, exit.ExitCode())
	assert.ErrorContains(t, res.DaemonErr, "before answering processRecords")
	assert.Contains(t, res.Stderr, "shutdown grace period expired")
}
