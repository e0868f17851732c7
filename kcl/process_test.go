package kcl_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
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
	case "restore":
		os.Exit(restoreChild())
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

// restoreChild is the child of TestRunRestoresProcessState: Run is stopped
// by its context (on SIGUSR1) while it waits for the daemon's next message;
// the child then reports on its stdout, which Run must have given back.
func restoreChild() int {
	var before syscall.Stat_t
	if err := syscall.Fstat(1, &before); err != nil {
		return 4
	}
	// The runtime opens its poller's descriptors (epoll, eventfd) on first
	// use, which may come during Run: have it open them now.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fdsBefore := openFDs()
	ctx, cancel := context.WithCancel(context.Background())
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() { <-usr1; cancel() }()
	p := &fakeProcessor{process: func(context.Context, kcl.ProcessRecordsInput) error {
		fmt.Fprintln(os.Stderr, "ProcessRecords called after Run returned")
		return nil
	}}
	err := kcl.Run(ctx, p, kcl.WithProcessorRetry(kcl.RetryPolicy{MaxAttempts: 1}))

	var after syscall.Stat_t
	if err := syscall.Fstat(1, &after); err != nil {
		return 5
	}
	fmt.Println("run stopped by the context:", errors.Is(err, context.Canceled))
	fmt.Println("fd 1 restored:", before.Dev == after.Dev && before.Ino == after.Ino)
	if fdsBefore != nil {
		// The duplicate is closed once a write to it still under way
		// returned: the status of initialize may be one.
		same := slices.Equal(fdsBefore, openFDs())
		for i := 0; i < 400 && !same; i++ {
			time.Sleep(5 * time.Millisecond)
			same = slices.Equal(fdsBefore, openFDs())
		}
		if same {
			fmt.Println("descriptors restored: true")
		} else {
			fmt.Println("descriptors restored: false; before Run:", fdsBefore, "after:", describeFDs(openFDs()))
		}
	}
	syscall.Write(1, []byte("write(2) to fd 1 after Run\n"))
	fmt.Println("reader goroutine left blocked:", serving())
	// The parent now sends a batch and closes stdin: the leftover reader
	// reads it, drops it and ends.
	for i := 0; i < 2000 && serving(); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("reader goroutine ended:", !serving())
	return 0
}

// openFDs lists the process's open descriptors, or nil where /proc is
// missing.
func openFDs() []string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var fds []string
	for _, e := range entries {
		fds = append(fds, e.Name())
	}
	// The descriptor ReadDir itself used is closed now; drop any name that
	// no longer resolves.
	return slices.DeleteFunc(fds, func(fd string) bool {
		_, err := os.Readlink("/proc/self/fd/" + fd)
		return err != nil
	})
}

// describeFDs names what each descriptor is open on.
func describeFDs(fds []string) []string {
	var out []string
	for _, fd := range fds {
		l, _ := os.Readlink("/proc/self/fd/" + fd)
		out = append(out, fd+"="+l)
	}
	return out
}

// serving reports whether a goroutine is still in the function that serves
// the daemon (kcl.serve, unexported: this test names it on purpose).
func serving() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "kcl.serve(")
}

// lockedBuffer is a strings.Builder safe to read while exec copies the
// child's output into it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Run gives back descriptor 1 (and closes its duplicate) when it returns,
// here because its context was cancelled while the goroutine serving the
// daemon was blocked reading stdin; that goroutine, documented as left
// behind, calls the processor for nothing it reads afterwards and ends at
// the next input.
func TestRunRestoresProcessState(t *testing.T) {
	cmd := helperCommand(t, "restore")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()

	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(stdout)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimSuffix(l, "\n")
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the child closed stdout; stderr:\n%s", stderr.String())
			return l
		case <-time.After(20 * time.Second):
			require.FailNow(t, "no line from the child", "stderr:\n%s", stderr.String())
			return ""
		}
	}

	_, err = io.WriteString(stdin, `{"action":"initialize","shardId":"`+shard+`","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`+"\n")
	require.NoError(t, err)
	assert.Equal(t, `{"action":"status","responseFor":"initialize"}`, next())
	require.NoError(t, cmd.Process.Signal(syscall.SIGUSR1))
	assert.Equal(t, "run stopped by the context: true", next())
	assert.Equal(t, "fd 1 restored: true", next())
	if runtime.GOOS == "linux" {
		assert.Equal(t, "descriptors restored: true", next(), "the protocol's duplicate of fd 1 is closed; stderr:\n%s", stderr)
	}
	assert.Equal(t, "write(2) to fd 1 after Run", next(), "fd 1 is stdout again, not stderr")
	assert.Equal(t, "reader goroutine left blocked: true", next())

	_, err = io.WriteString(stdin, `{"action":"processRecords","records":[],"millisBehindLatest":0}`+"\n")
	require.NoError(t, err)
	require.NoError(t, stdin.Close())
	assert.Equal(t, "reader goroutine ended: true", next())
	_, more := <-lines
	assert.False(t, more, "nothing else on stdout: no status for the dropped batch")
	require.NoError(t, cmd.Wait())
	assert.NotContains(t, stderr.String(), "ProcessRecords called")
	assert.NotContains(t, stderr.String(), "write(2) to fd 1 after Run")
}
