package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/mattn/go-isatty"

	"github.com/kclgo/kclgo/producer"
)

const localUsage = `usage: kclgo local [flags] -- ./myproc [args...]

Runs your record processor under Amazon's real KCL MultiLangDaemon on this
machine: starts local emulators on loopback ports (installing them if missing:
moto with pip for --kcl 3, kinesalite and dynalite with npm for --kcl 1),
creates a stream, puts records (half of them KPL-aggregated), fetches the
daemon's jars if missing and runs the daemon with your processor as its child,
through a tap that forwards both directions byte for byte and reads the
protocol. Live progress (records delivered and checkpointed per shard, lag) goes
to stderr; the final counts to stdout. Once every record was delivered, a
processor that has not checkpointed them all within --settle gets a graceful
shutdown (shutdownRequested) to do so.

Exit status: 0 when every record put was delivered and checkpointed, 1 when
not (the report says which shard fell short), 2 on a usage error.

Flags:
`

// localConfig is kclgo local's flags.
type localConfig struct {
	kcl     string
	shards  int
	records int
	put     string
	timeout time.Duration
	settle  time.Duration
	keep    bool
	plain   bool
	child   []string
}

// localCmd is kclgo local.
func localCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, localUsage); fs.PrintDefaults() }
	var c localConfig
	fs.StringVar(&c.kcl, "kcl", "3", "daemon major version: 3 (KCL 3.x, moto) or 1 (KCL 1.x, kinesalite + dynalite)")
	fs.IntVar(&c.shards, "shards", 4, "shards of the stream")
	fs.IntVar(&c.records, "records", 1000, "records to put (data rec-<i>, partition key pk-<i>)")
	fs.StringVar(&c.put, "put", "", "put the lines of this file as the records instead (partition key: the line number)")
	fs.DurationVar(&c.timeout, "timeout", 4*time.Minute, "give up after this long (a fresh application waits a random 1-30 s for its first lease)")
	fs.DurationVar(&c.settle, "settle", 10*time.Second, "after the last delivery, wait this long for checkpoints before a graceful shutdown")
	fs.BoolVar(&c.keep, "keep", false, "keep the run's folder (properties, daemon and emulator logs) after success")
	fs.BoolVar(&c.plain, "plain", false, "put every record plain (default: the second half KPL-aggregated)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c.child = fs.Args()
	if len(c.child) == 0 {
		fmt.Fprintln(stderr, "kclgo local: name your processor after --, e.g. kclgo local -- ./myproc")
		return 2
	}
	if c.shards < 1 || c.records < 0 {
		fmt.Fprintln(stderr, "kclgo local: --shards must be at least 1 and --records not negative")
		return 2
	}
	k, err := kindOf(c.kcl)
	if err != nil {
		fmt.Fprintln(stderr, "kclgo local:", err)
		return 2
	}
	code, err := runLocal(ctx, c, k, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "kclgo local:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func runLocal(ctx context.Context, c localConfig, k daemonKind, stdout, stderr io.Writer) (int, error) {
	say := func(format string, args ...any) { fmt.Fprintf(stderr, "kclgo local: "+format+"\n", args...) }
	// Fail fast on what would fail late: the child, the records, Java.
	wd, _ := os.Getwd()
	child, err := childArgs(c.child, wd)
	if err != nil {
		return 2, err
	}
	data, err := recordsToPut(c)
	if err != nil {
		return 2, err
	}
	self, err := os.Executable()
	if err != nil {
		return 1, err
	}
	if strings.ContainsAny(self, " \t") {
		return 1, fmt.Errorf("the path of kclgo itself (%s) has a space: the daemon splits executableName on spaces", self)
	}
	cache, err := cacheDir()
	if err != nil {
		return 1, err
	}
	if _, err := fetchJars(ctx, cache, k, stderr); err != nil {
		return 1, err
	}

	run := filepath.Join(cache, "runs", time.Now().UTC().Format("20060102-150405")+"-"+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(run, 0o755); err != nil {
		return 1, err
	}
	ok := false
	defer func() {
		if ok && !c.keep {
			_ = os.RemoveAll(run)
		} else {
			say("logs kept in %s (daemon.log, app.properties, emulator logs)", run)
		}
	}()

	st, err := startStack(ctx, cache, run, k, say)
	defer st.stop()
	if err != nil {
		return 1, err
	}
	stream := "kclgo-local-" + strconv.Itoa(os.Getpid())
	if err := putRecords(ctx, st.kinesisHTTP1, stream, c.shards, data, c.plain); err != nil {
		return 1, err
	}
	say("stream %s: %d shards, %d records put", stream, c.shards, len(data))

	sock := filepath.Join(run, "tap.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return 1, fmt.Errorf("tap socket: %w", err)
	}
	defer ln.Close()
	prog := newProgress()
	go prog.serve(ln)

	props := filepath.Join(run, "app.properties")
	exe := append([]string{self, "tap", "--"}, child...)
	text := localProperties(k, strings.Join(exe, " "), stream, "kclgo-local-"+strconv.Itoa(os.Getpid()), st.kinesisDaemon, st.dynamoDB)
	if err := os.WriteFile(props, []byte(text), 0o644); err != nil {
		return 1, err
	}
	argv, err := javaArgs(cache, k, props)
	if err != nil {
		return 1, err
	}
	logFile, err := os.Create(filepath.Join(run, "daemon.log"))
	if err != nil {
		return 1, err
	}
	defer logFile.Close()
	daemon := exec.Command(argv[0], argv[1:]...)
	daemon.Dir = wd
	daemon.Stdout, daemon.Stderr = logFile, logFile
	daemon.Env = append(os.Environ(), tapSocketEnv+"="+sock,
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1")
	if os.Getenv("KCL_JAVA_OPTS") == "" {
		// Less CPU at start on a small machine.
		daemon.Env = append(daemon.Env, "KCL_JAVA_OPTS=-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx512m")
	}
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		return 1, fmt.Errorf("start the daemon: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(exited) }()
	say("KCL %s daemon (%s) started; a fresh application waits a random 1-30 s before its first lease", k.kcl, k.version())

	outcome := watch(ctx, c, len(data), prog, exited, stderr, say)
	stopDaemon(daemon, exited, say)
	time.Sleep(200 * time.Millisecond) // the taps' last events
	cs := prog.counts()
	allOK, short := report(stdout, len(data), cs)
	if outcome != "" {
		say("%s", outcome)
	}
	if !allOK {
		for _, s := range short {
			say("FAILED: %s", s)
		}
		if b, err := os.ReadFile(logFile.Name()); err == nil && outcome != "" {
			fmt.Fprintln(stderr, tail(string(b), 15))
		}
		if ctx.Err() != nil {
			return 130, nil
		}
		return 1, nil
	}
	ok = true
	say("every record was delivered and checkpointed")
	return 0, nil
}

// watch shows progress until every record was delivered and checkpointed,
// the daemon exits, the timeout passes or ctx ends. When everything was
// delivered but not checkpointed within c.settle, it asks the daemon for a
// graceful shutdown and waits for its end. It returns why it stopped when
// that was not success.
func watch(ctx context.Context, c localConfig, put int, prog *progress, exited <-chan struct{}, stderr io.Writer, say func(string, ...any)) string {
	tty := false
	if f, ok := stderr.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	began := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.After(c.timeout)
	var allDelivered time.Time
	lastShown, shownAt := "", time.Time{}
	show := func(final bool) {
		line := fmt.Sprintf("%3ds %s", int(time.Since(began).Seconds()), statusLine(put, prog.counts()))
		switch {
		case tty:
			fmt.Fprintf(stderr, "\r\033[K%s", line)
			if final {
				fmt.Fprintln(stderr)
			}
		case final || (line[5:] != lastShown && time.Since(shownAt) >= 5*time.Second) || time.Since(shownAt) >= 15*time.Second:
			fmt.Fprintln(stderr, line)
			lastShown, shownAt = line[5:], time.Now()
		}
	}
	for {
		select {
		case <-ctx.Done():
			show(true)
			return "interrupted"
		case <-exited:
			show(true)
			return "the daemon exited"
		case <-deadline:
			show(true)
			return fmt.Sprintf("timed out after %s", c.timeout)
		case <-tick.C:
		}
		show(false)
		d, cp := totals(prog.counts())
		if d >= put && cp >= put {
			show(true)
			return ""
		}
		if d >= put && allDelivered.IsZero() {
			allDelivered = time.Now()
		}
		if !allDelivered.IsZero() && time.Since(allDelivered) >= c.settle {
			show(true)
			say("every record delivered, %d not checkpointed after %s: asking the daemon for a graceful shutdown (the processor gets shutdownRequested)", put-cp, c.settle)
			return ""
		}
	}
}

// stopDaemon sends the daemon SIGTERM (its graceful shutdown) and waits up
// to 60 s for it, then kills its process group.
func stopDaemon(daemon *exec.Cmd, exited <-chan struct{}, say func(string, ...any)) {
	select {
	case <-exited:
	default:
		say("stopping the daemon (SIGTERM: graceful shutdown)")
		_ = daemon.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(60 * time.Second):
			say("the daemon did not stop within 60 s; killing it")
		}
	}
	_ = syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL)
}

// childArgs checks the processor command: its program must exist and be
// executable, and no argument may hold white space (the daemon splits
// executableName on spaces). The program is made absolute.
func childArgs(child []string, dir string) ([]string, error) {
	for _, a := range child {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			return nil, fmt.Errorf("processor argument %q: the daemon splits executableName on white space, so no argument may contain any", a)
		}
	}
	prog := child[0]
	if err := checkExecutable(prog, dir); err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	if strings.Contains(prog, "/") && !filepath.IsAbs(prog) {
		prog = filepath.Join(dir, prog)
	}
	return append([]string{prog}, child[1:]...), nil
}

// recordsToPut returns the records' data: the lines of c.put, or
// rec-0 ... rec-<records-1>.
func recordsToPut(c localConfig) ([][]byte, error) {
	if c.put == "" {
		out := make([][]byte, c.records)
		for i := range out {
			out[i] = []byte("rec-" + strconv.Itoa(i))
		}
		return out, nil
	}
	f, err := os.Open(c.put)
	if err != nil {
		return nil, fmt.Errorf("--put: %w", err)
	}
	defer f.Close()
	var out [][]byte
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		out = append(out, append([]byte(nil), s.Bytes()...))
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("--put %s: line %d: %w (a record is at most 1 MiB)", c.put, len(out)+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--put %s: no lines", c.put)
	}
	return out, nil
}

// putRecords creates the stream and puts data with partition keys pk-<i>:
// the first half plain, the rest KPL-aggregated unless plain.
func putRecords(ctx context.Context, endpoint, stream string, shards int, data [][]byte, plain bool) error {
	client := kinesis.New(kinesis.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 10,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	_, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(int32(shards))})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", stream, err)
	}
	w := kinesis.NewStreamExistsWaiter(client, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, time.Minute); err != nil {
		return fmt.Errorf("stream %s not ACTIVE: %w", stream, err)
	}
	half := len(data) / 2
	if plain {
		half = len(data)
	}
	for _, part := range []struct {
		from, to  int
		aggregate bool
	}{{0, half, false}, {half, len(data), true}} {
		if part.from >= part.to {
			continue
		}
		p, err := producer.New(ctx, client, producer.Config{StreamName: stream, DisableAggregation: !part.aggregate, Linger: 50 * time.Millisecond, RecordTTL: time.Minute})
		if err != nil {
			return err
		}
		for i := part.from; i < part.to; i++ {
			if err := p.Put(ctx, "pk-"+strconv.Itoa(i), data[i]); err != nil {
				_ = p.Close(ctx)
				return fmt.Errorf("put record %d: %w", i, err)
			}
		}
		if err := p.Close(ctx); err != nil {
			return fmt.Errorf("put: %w", err)
		}
	}
	return nil
}
