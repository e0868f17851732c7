package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// env is what TestMain prepared for the tests.
var env struct {
	skip     string // non-empty: skip every test with this reason
	setupErr error  // non-nil: fail every test with this error
	root     string // repository root
	tmp      string // scratch folder removed at the end
	bin      string // built helper binaries
	child    string // executableName for the daemon (the processor under test)
	name     string // short name of the child, for logs
	kclpy    string // PYTHONPATH for the amazon-kclpy sample
	stackEnv []string
	kcl3     endpoints
	kcl1     endpoints
	kcl3k    endpoints // KCL 3 with kinesalite (ChildShards added by the proxy) and moto's DynamoDB
	native   endpoints // the native worker's stack: kinesis-local (h2c proxy for a daemon) and moto's DynamoDB
	nativeDL endpoints // kinesis-local with dynalite
}

// endpoints of one local stack.
type endpoints struct {
	kinesis       string // what the daemon uses (h2c proxy for KCL 3)
	kinesisHTTP1  string // what Go clients use
	kinesisFanOut string // for enhanced fan-out clients (kinesis-local behind h2cproxy -fan-out)
	dynamo        string
}

var seq struct {
	sync.Mutex
	n int
}

// unique returns a name unique within this test run.
func unique(prefix string) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), seq.n)
}

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	// The tests mostly wait (the daemon's random start-up wait, lease timeouts), so four at a time
	// beat GOMAXPROCS (2 here): ~90 s instead of 140–240 s on 2 cores. An explicit -parallel wins.
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "4")
	}
	if _, err := exec.LookPath("java"); err != nil {
		env.skip = "java is not installed: the end-to-end tests run Amazon's Java MultiLangDaemon (run scripts/setup.sh)"
		return m.Run()
	}
	stop, err := setup()
	if err != nil {
		env.setupErr = err
		fmt.Fprintln(os.Stderr, "e2e setup:", err)
	}
	if stop != nil {
		// Ctrl-C or a SIGTERM from a runner: still stop the emulators (they run in their own sessions).
		// The daemons die with this process (Pdeathsig) and their children with them (stdin EOF).
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, os.Interrupt, syscall.SIGTERM)
		go func() {
			<-sigc
			stop()
			os.Exit(1)
		}()
	}
	code := m.Run()
	if stop != nil {
		stop()
	}
	if env.tmp != "" {
		_ = os.RemoveAll(env.tmp)
	}
	return code
}

// setup builds the helpers, fetches the daemon jars and starts both local
// stacks on free loopback ports. The returned func stops the stacks.
func setup() (func(), error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	env.root = filepath.Dir(wd)
	if env.tmp, err = os.MkdirTemp("", "kclgo-e2e-"); err != nil {
		return nil, err
	}
	env.bin = filepath.Join(env.tmp, "bin")
	for _, b := range [][2]string{{"producer", "./samples/producer"}} {
		if out, err := runIn(env.root, 3*time.Minute, nil, "go", "build", "-o", filepath.Join(env.bin, b[0]), b[1]); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	if err := chooseChild(); err != nil {
		return nil, err
	}
	for _, k := range []string{"3", "2", "1"} {
		if out, err := runIn(env.root, 8*time.Minute, nil, "bash", "scripts/kcl-jars.sh", "--kcl", k, "fetch"); err != nil {
			return nil, fmt.Errorf("kcl-jars.sh --kcl %s fetch: %v\n%s", k, err, out)
		}
	}
	out, err := runIn(env.root, 3*time.Minute, nil, "bash", "scripts/kclpy.sh")
	if err != nil {
		return nil, fmt.Errorf("kclpy.sh: %v\n%s", err, out)
	}
	env.kclpy = strings.TrimSpace(lastLine(out))

	// A port found free can be taken before the emulators bind it: try
	// again with new ports (localstack.sh fails fast on a taken port).
	var ports []string
	var stop func()
	for attempt := 1; ; attempt++ {
		ports, err = freePorts(9)
		if err != nil {
			return nil, err
		}
		env.stackEnv = []string{
			"KCLGO_STACK_DIR=" + filepath.Join(env.tmp, "stack"),
			"MOTO_PORT=" + ports[0], "H2C_PORT=" + ports[1], "KINESALITE_PORT=" + ports[2], "DYNALITE_PORT=" + ports[3],
			"KINESALITE_PROXY_PORT=" + ports[4],
			"KINESIS_LOCAL_PORT=" + ports[5], "KINESIS_LOCAL_TLS_PORT=" + ports[6], "KINESIS_LOCAL_H2C_PORT=" + ports[7],
			// Fan-out subscriptions end every 5 s (Kinesis: 5 min), so every fan-out test resubscribes mid-stream.
			"KINESIS_LOCAL_EFO_PORT=" + ports[8], "KINESIS_LOCAL_SUBSCRIPTION_MAX=" + subscriptionMax.String(),
		}
		stackEnv := env.stackEnv
		stop = func() {
			if out, err := runIn(env.root, time.Minute, stackEnv, "bash", "scripts/localstack.sh", "down"); err != nil {
				fmt.Fprintf(os.Stderr, "localstack.sh down: %v\n%s", err, out)
			}
		}
		out, err := runIn(env.root, 8*time.Minute, env.stackEnv, "bash", "scripts/localstack.sh", "up", "all")
		if err == nil {
			out, err = runIn(env.root, 8*time.Minute, env.stackEnv, "bash", "scripts/localstack.sh", "up", "native")
		}
		if err == nil {
			break
		}
		stop()
		if attempt == 3 {
			return nil, fmt.Errorf("localstack.sh up: %v\n%s", err, out)
		}
		fmt.Fprintf(os.Stderr, "localstack.sh up failed (attempt %d), trying other ports: %v\n", attempt, err)
	}
	loop := "http://127.0.0.1:"
	env.kcl3 = endpoints{kinesis: loop + ports[1], kinesisHTTP1: loop + ports[0], dynamo: loop + ports[0]}
	env.kcl1 = endpoints{kinesis: loop + ports[4], kinesisHTTP1: loop + ports[2], dynamo: loop + ports[3]}
	env.kcl3k = endpoints{kinesis: loop + ports[4], kinesisHTTP1: loop + ports[2], dynamo: loop + ports[0]}
	env.native = endpoints{kinesis: loop + ports[7], kinesisHTTP1: loop + ports[5], kinesisFanOut: loop + ports[8], dynamo: loop + ports[0]}
	env.nativeDL = endpoints{kinesis: loop + ports[7], kinesisHTTP1: loop + ports[5], kinesisFanOut: loop + ports[8], dynamo: loop + ports[3]}
	return stop, nil
}

// chooseChild picks the record processor under test: $KCLGO_E2E_CHILD is
// "batch", "perrecord", "kclpy" or a path to an executable; unset means
// the SDK's batch sample (samples/batch).
func chooseChild() error {
	c := os.Getenv("KCLGO_E2E_CHILD")
	if c == "" {
		c = "batch"
	}
	env.name = c
	switch c {
	case "batch", "perrecord":
		env.child = filepath.Join(env.bin, "kclgo-sample-"+c)
		if out, err := runIn(env.root, 3*time.Minute, nil, "go", "build", "-o", env.child, "./samples/"+c); err != nil {
			return fmt.Errorf("go build ./samples/%s: %v\n%s", c, err, out)
		}
	case "kclpy":
		env.child = kclpyChild()
	default:
		abs, err := filepath.Abs(c)
		if err != nil {
			return err
		}
		env.child, env.name = abs, filepath.Base(abs)
	}
	return nil
}

func kclpyChild() string {
	py, err := exec.LookPath("python3")
	if err != nil {
		py = "python3"
	}
	return py + " " + filepath.Join(env.root, "e2e", "testdata", "kclpy_sample.py")
}

// need skips or fails t when the environment is not there.
func need(t *testing.T) {
	t.Helper()
	if env.skip != "" {
		t.Skip(env.skip)
	}
	if env.setupErr != nil {
		t.Fatalf("e2e setup failed: %v", env.setupErr)
	}
}

func runIn(dir string, timeout time.Duration, extraEnv []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func freePorts(n int) ([]string, error) {
	var ports []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// produce creates stream with shards shards (when shards > 0) and puts
// count records starting at index start; extra are more producer flags.
func produce(t *testing.T, ep endpoints, stream string, shards, start, count int, extra ...string) {
	t.Helper()
	args := []string{"-endpoint", ep.kinesisHTTP1, "-stream", stream, "-quiet", "-timeout", "2m",
		"-create", strconv.Itoa(shards), "-start", strconv.Itoa(start), "-count", strconv.Itoa(count)}
	args = append(args, extra...)
	if out, err := runIn(env.root, 3*time.Minute, nil, filepath.Join(env.bin, "producer"), args...); err != nil {
		t.Fatalf("producer %v: %v\n%s", args, err, out)
	}
}

func awsCreds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider("test", "test", "")
}

func kinesisClient(ep endpoints) *kinesis.Client {
	return kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.kinesisHTTP1), Credentials: awsCreds()})
}

// lease is one row of a KCL lease table.
type lease struct {
	key, owner, checkpoint, sub string
}

// leases scans the lease table of app (the table is named after the app).
func leases(ep endpoints, app string) (map[string]lease, error) {
	c := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(ep.dynamo), Credentials: awsCreds()})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]lease{}
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(app), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, it := range page.Items {
			l := lease{key: attr(it["leaseKey"]), owner: attr(it["leaseOwner"]), checkpoint: attr(it["checkpoint"]), sub: attr(it["checkpointSubSequenceNumber"])}
			out[l.key] = l
		}
	}
	return out, nil
}

func attr(v ddbtypes.AttributeValue) string {
	switch a := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return a.Value
	case *ddbtypes.AttributeValueMemberN:
		return a.Value
	}
	return ""
}

// daemon is one running MultiLangDaemon JVM (process group leader).
type daemon struct {
	t       *testing.T
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	exit    int
}

// props are the settings every test daemon uses; extra overrides them.
func props(kcl int, ep endpoints, app, stream, child string, extra map[string]string) string {
	p := map[string]string{
		"executableName":                child,
		"streamName":                    stream,
		"applicationName":               app,
		"AWSCredentialsProvider":        "EnvironmentVariableCredentialsProvider",
		"regionName":                    "us-east-1",
		"kinesisEndpoint":               ep.kinesis,
		"dynamoDBEndpoint":              ep.dynamo,
		"initialPositionInStream":       "TRIM_HORIZON",
		"metricsLevel":                  "NONE",
		"maxRecords":                    "10000",
		"idleTimeBetweenReadsInMillis":  "200",
		"failoverTimeMillis":            "3000",
		"shardSyncIntervalMillis":       "1000",
		"shutdownGraceMillis":           "5000",
		"parentShardPollIntervalMillis": "1000",
		"taskBackoffTimeMillis":         "500",
	}
	if kcl == 3 {
		p["retrievalMode"] = "POLLING"
		p["leaseAssignmentIntervalMillis"] = "1000"
		p["workerMetricsReporterFreqInMillis"] = "1000"
		p["inMemoryWorkerMetricsCaptureFrequencyMillis"] = "500"
	}
	for k, v := range extra {
		p[k] = v
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, p[k])
	}
	return b.String()
}

// childEnv is the environment of the processor children: the record log and
// a checkpoint after every batch unless the test says otherwise.
func childEnv(recordLog string, extra ...string) []string {
	e := []string{"KCLGO_RECORD_LOG=" + recordLog, "KCLGO_CHECKPOINT_SECONDS=0", "KCLGO_CHECKPOINT_EVERY=0", "KCLGO_SAMPLE_FAIL_BATCH="}
	if strings.Contains(env.child, "kclpy_sample.py") {
		e = append(e, "PYTHONPATH="+env.kclpy)
	}
	return append(e, extra...)
}

// startDaemon writes the properties and starts the daemon for kcl (3 or 1).
func startDaemon(t *testing.T, kcl int, properties string, extraEnv []string) *daemon {
	t.Helper()
	dir := t.TempDir()
	name := unique("daemon")
	pf := filepath.Join(dir, name+".properties")
	if err := os.WriteFile(pf, []byte(properties), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runIn(env.root, time.Minute, nil, "bash", "scripts/kcl-jars.sh", "--kcl", strconv.Itoa(kcl), "args", pf)
	if err != nil {
		t.Fatalf("kcl-jars.sh args: %v\n%s", err, out)
	}
	args := strings.Split(strings.TrimSpace(out), "\n")
	// Serial GC and the C1 compiler: faster start and less CPU on small machines.
	args = append([]string{args[0], "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xmx512m"}, args[1:]...)
	logDir := dir
	if v := os.Getenv("KCLGO_E2E_LOGDIR"); v != "" {
		logDir = v // keep the daemon logs after the run
		_ = os.MkdirAll(logDir, 0o755)
	}
	d := &daemon{t: t, name: name, logPath: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Dir = dir
	d.cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1")
	d.cmd.Env = append(d.cmd.Env, extraEnv...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = d.cmd.Wait()
		d.exit = d.cmd.ProcessState.ExitCode()
		if ws, ok := d.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			d.exit = 128 + int(ws.Signal())
		}
		logf.Close()
		close(d.done)
	}()
	t.Logf("%s: KCL %d daemon pid %d, log %s", name, kcl, d.cmd.Process.Pid, d.logPath)
	t.Cleanup(func() {
		d.kill()
		if t.Failed() || os.Getenv("KCLGO_E2E_VERBOSE") != "" {
			d.dumpLog(80)
		}
	})
	return d
}

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout for the JVM to exit and returns its exit code.
func (d *daemon) wait(timeout time.Duration) (int, bool) {
	select {
	case <-d.done:
		return d.exit, true
	case <-time.After(timeout):
		return 0, false
	}
}

// stop sends SIGTERM (graceful shutdown) and waits, then kills.
func (d *daemon) stop(timeout time.Duration) int {
	if d.exited() {
		return d.exit
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	if code, ok := d.wait(timeout); ok {
		d.killGroup()
		return code
	}
	d.t.Logf("%s: no exit %v after SIGTERM; killing", d.name, timeout)
	d.kill()
	return d.exit
}

// kill SIGKILLs the JVM and its children (one process group).
func (d *daemon) kill() {
	d.killGroup()
	<-d.done
}

func (d *daemon) killGroup() {
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
}

// children returns the pids of the daemon's child processes.
func (d *daemon) children() []int {
	var pids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", d.cmd.Process.Pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(s); err == nil {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

func (d *daemon) dumpLog(n int) {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	d.t.Logf("last %d lines of %s:\n%s", len(lines), d.logPath, strings.Join(lines, "\n"))
}

// logLine is one line of a KCLGO_RECORD_LOG.
type logLine struct {
	kind      byte // 'R' record, 'C' checkpoint, 'I' initialize, 'L' lease lost
	shard, pk string
	seq, sub  string
	index     int   // position in the file
	at        int64 // C and I lines of kclgo's samples: wall clock, ns
}

func readLog(t *testing.T, path string) []logLine {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	r := bufio.NewReader(f)
	for {
		s, err := r.ReadString('\n')
		if err != nil {
			break // a partial last line is being written
		}
		fs := strings.Split(strings.TrimSuffix(s, "\n"), "\t")
		switch {
		case fs[0] == "R" && (len(fs) == 5 || len(fs) == 6):
			// kclgo's samples add the payload (or "-"): record pk-<i>
			// carries rec-<i>, so a record with another's data shows.
			if len(fs) == 6 && fs[5] != "-" && strings.HasPrefix(fs[2], "pk-") && fs[5] != "rec-"+strings.TrimPrefix(fs[2], "pk-") {
				t.Errorf("record %s arrived with the payload %q", fs[2], fs[5])
			}
			out = append(out, logLine{kind: 'R', shard: fs[1], pk: fs[2], seq: fs[3], sub: fs[4], index: len(out)})
		case fs[0] == "C" && len(fs) == 4:
			out = append(out, logLine{kind: 'C', shard: fs[1], seq: fs[2], sub: fs[3], index: len(out)})
		case (fs[0] == "C" || fs[0] == "I") && len(fs) == 5: // with the time
			ns, _ := strconv.ParseInt(fs[4], 10, 64)
			out = append(out, logLine{kind: fs[0][0], shard: fs[1], seq: fs[2], sub: fs[3], index: len(out), at: ns})
		case fs[0] == "L" && len(fs) == 2: // LeaseLost
			out = append(out, logLine{kind: 'L', shard: fs[1], index: len(out)})
		default:
			t.Errorf("malformed record log line %q", s)
		}
	}
	return out
}

// keys returns the distinct partition keys of the R lines.
func keys(lines []logLine) map[string]int {
	m := map[string]int{}
	for _, l := range lines {
		if l.kind == 'R' {
			m[l.pk]++
		}
	}
	return m
}

// missing lists the keys pk-<start>..pk-<start+count-1> not in got (at most 10).
func missing(got map[string]int, start, count int) []string {
	var m []string
	for i := start; i < start+count; i++ {
		if got["pk-"+strconv.Itoa(i)] == 0 {
			m = append(m, "pk-"+strconv.Itoa(i))
			if len(m) == 10 {
				break
			}
		}
	}
	return m
}

// lastSeq returns each shard's largest record sequence number.
func lastSeq(lines []logLine) map[string]string {
	m := map[string]string{}
	for _, l := range lines {
		if l.kind == 'R' && (m[l.shard] == "" || seqLess(m[l.shard], l.seq)) {
			m[l.shard] = l.seq
		}
	}
	return m
}

// seqLess compares two decimal sequence numbers.
func seqLess(a, b string) bool {
	x, ok1 := new(big.Int).SetString(a, 10)
	y, ok2 := new(big.Int).SetString(b, 10)
	if !ok1 || !ok2 {
		return a < b
	}
	return x.Cmp(y) < 0
}

// waitFor polls cond every 250 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitAll waits until the record log holds every key of start..start+count-1,
// failing early when every daemon in ds has exited.
func waitAll(t *testing.T, logPath string, start, count int, timeout time.Duration, ds ...*daemon) []logLine {
	t.Helper()
	var lines []logLine
	began := time.Now()
	last := time.Now()
	waitFor(t, timeout, fmt.Sprintf("%d records in %s", count, logPath), func() bool {
		lines = readLog(t, logPath)
		got := keys(lines)
		if time.Since(last) > 10*time.Second {
			t.Logf("%v: %d/%d records", time.Since(began).Round(time.Second), len(got), count)
			last = time.Now()
		}
		if len(missing(got, start, count)) == 0 {
			return true
		}
		if len(ds) > 0 {
			alive := false
			for _, d := range ds {
				alive = alive || !d.exited()
			}
			if !alive {
				t.Fatalf("all daemons exited with %d/%d records; missing e.g. %v", len(got), count, missing(got, start, count))
			}
		}
		return false
	})
	t.Logf("all %d records after %v", count, time.Since(began).Round(100*time.Millisecond))
	return lines
}

// checkpointsAtEnd reports whether every shard's lease checkpoint equals the
// last sequence number the record log shows for it.
func checkpointsAtEnd(ep endpoints, app string, last map[string]string) (bool, string) {
	ls, err := leases(ep, app)
	if err != nil {
		return false, err.Error()
	}
	var diffs []string
	for shard, seq := range last {
		if ls[shard].checkpoint != seq {
			diffs = append(diffs, fmt.Sprintf("%s: lease %q, last record %q", shard, ls[shard].checkpoint, seq))
		}
	}
	sort.Strings(diffs)
	return len(diffs) == 0, strings.Join(diffs, "; ")
}
