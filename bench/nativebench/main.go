// Command nativebench compares the two runtimes of one processor on the
// same emulator and the same records, in one invocation: the native worker
// (perrecord -native, one Go process) against Amazon's MultiLangDaemon with
// the same binary as its children (one JVM plus one child per shard).
//
// It starts the native stack of scripts/localstack.sh (kinesis-local and
// moto) on free loopback ports, creates a stream, puts the records once, and
// then has each runtime consume the whole stream from TRIM_HORIZON under an
// application (lease table) of its own, interleaved over -runs (native,
// daemon, native, daemon, …). For each run it samples the process tree
// (the worker, or the JVM and its children) every 50 ms from /proc: CPU
// (user + system) and resident memory (the sum of VmRSS over the tree; its
// peak is reported). A run ends when the record log holds every record.
//
// Reported per runtime (medians over the runs) and as the daemon's ratio to
// the native worker:
//   - records/s from the first record delivered to the last;
//   - CPU seconds per 100,000 records over the whole run (start-up included:
//     the JVM's is part of its cost) and over delivery alone;
//   - peak RSS of the whole tree;
//   - time to the first record (the daemon waits a random 1-30 s before it
//     takes its first lease).
//
// Usage, from the repository root (scripts/setup.sh installed the jars and
// emulators):
//
//	go run ./bench/nativebench -records 100000 -shards 4 -runs 2
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	records := flag.Int("records", 100000, "records to put and consume")
	shards := flag.Int("shards", 4, "shards of the stream")
	runs := flag.Int("runs", 1, "runs of each runtime, interleaved")
	aggregated := flag.Int("aggregated", 0, "how many of the records to KPL-aggregate")
	flag.Parse()
	if err := run(*records, *shards, *runs, *aggregated); err != nil {
		fmt.Fprintln(os.Stderr, "nativebench:", err)
		os.Exit(1)
	}
}

type result struct {
	rps, cpuPer100k, cpuDeliveryPer100k, rssMB float64
	firstRecord                                time.Duration
}

func run(records, shards, runs, aggregated int) error {
	tmp, err := os.MkdirTemp("", "nativebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "bin")
	for _, b := range []string{"perrecord", "producer"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, b), "./samples/"+b).CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./samples/%s: %v\n%s", b, err, out)
		}
	}
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	stackEnv := append(os.Environ(), "KCLGO_STACK_DIR="+filepath.Join(tmp, "stack"), "MOTO_PORT="+ports[0], "DYNALITE_PORT="+ports[1],
		"KINESIS_LOCAL_PORT="+ports[2], "KINESIS_LOCAL_TLS_PORT="+ports[3], "KINESIS_LOCAL_H2C_PORT="+ports[4],
		"KINESIS_LOCAL_EFO_PORT="+ports[5])
	up := exec.Command("bash", "scripts/localstack.sh", "up", "native")
	up.Env, up.Stdout, up.Stderr = stackEnv, os.Stderr, os.Stderr
	if err := up.Run(); err != nil {
		return fmt.Errorf("localstack.sh up native: %w", err)
	}
	defer func() {
		down := exec.Command("bash", "scripts/localstack.sh", "down")
		down.Env = stackEnv
		_ = down.Run()
	}()
	kinesisURL, h2cURL, dynamoURL := "http://127.0.0.1:"+ports[2], "http://127.0.0.1:"+ports[4], "http://127.0.0.1:"+ports[0]
	creds := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1"}
	stream := "bench"
	put := exec.Command(filepath.Join(bin, "producer"), "-endpoint", kinesisURL, "-stream", stream, "-create", strconv.Itoa(shards),
		"-count", strconv.Itoa(records), "-aggregated", strconv.Itoa(aggregated), "-timeout", "10m")
	put.Env, put.Stdout, put.Stderr = append(os.Environ(), creds...), os.Stderr, os.Stderr
	if err := put.Run(); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	childEnv := append(append(os.Environ(), creds...), "KCLGO_CHECKPOINT_EVERY=1000", "KCLGO_CHECKPOINT_SECONDS=10", "KCLGO_LOG_LEVEL=warn")

	var native, daemon []result
	for i := range runs {
		app := fmt.Sprintf("bench-native-%d", i)
		rl := filepath.Join(tmp, app+".log")
		cmd := exec.Command(filepath.Join(bin, "perrecord"), "-native", "-stream", stream, "-app", app,
			"-kinesis-endpoint", kinesisURL, "-dynamodb-endpoint", dynamoURL, "-idle", "200ms")
		cmd.Env = append(childEnv, "KCLGO_RECORD_LOG="+rl)
		r, err := measure("native", cmd, rl, records)
		if err != nil {
			return err
		}
		native = append(native, r)

		app = fmt.Sprintf("bench-daemon-%d", i)
		rl = filepath.Join(tmp, app+".log")
		props := filepath.Join(tmp, app+".properties")
		if err := os.WriteFile(props, []byte(strings.Join([]string{
			"executableName = " + filepath.Join(bin, "perrecord"), "streamName = " + stream, "applicationName = " + app,
			"AWSCredentialsProvider = EnvironmentVariableCredentialsProvider", "regionName = us-east-1",
			"kinesisEndpoint = " + h2cURL, "dynamoDBEndpoint = " + dynamoURL, "initialPositionInStream = TRIM_HORIZON",
			"metricsLevel = NONE", "retrievalMode = POLLING", "idleTimeBetweenReadsInMillis = 200", "maxRecords = 10000",
			"clientVersionConfig = CLIENT_VERSION_CONFIG_COMPATIBLE_WITH_2X", "",
		}, "\n")), 0o644); err != nil {
			return err
		}
		out, err := exec.Command("bash", "scripts/kcl-jars.sh", "--kcl", "3", "args", props).Output()
		if err != nil {
			return fmt.Errorf("kcl-jars.sh args: %w", err)
		}
		argv := strings.Split(strings.TrimSpace(string(out)), "\n")
		cmd = exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(childEnv, "KCLGO_RECORD_LOG="+rl)
		r, err = measure("daemon", cmd, rl, records)
		if err != nil {
			return err
		}
		daemon = append(daemon, r)
	}
	n, d := median(native), median(daemon)
	fmt.Printf("\n%d records (the producer sample's) on %d shards (%d aggregated), kinesis-local + moto; medians of %d run(s)\n\n", records, shards, aggregated, runs)
	fmt.Printf("| runtime | records/s | CPU s per 100k records (whole run) | CPU s per 100k (delivery) | peak RSS MB | first record after |\n|---|---|---|---|---|---|\n")
	row := func(name string, r result) {
		fmt.Printf("| %s | %.0f | %.2f | %.2f | %.0f | %.1f s |\n", name, r.rps, r.cpuPer100k, r.cpuDeliveryPer100k, r.rssMB, r.firstRecord.Seconds())
	}
	row("native worker", n)
	row("daemon + kclgo children", d)
	fmt.Printf("| daemon ÷ native | %.2f× | %.2f× | %.2f× | %.2f× | |\n", d.rps/n.rps, d.cpuPer100k/n.cpuPer100k, d.cpuDeliveryPer100k/n.cpuDeliveryPer100k, d.rssMB/n.rssMB)
	return nil
}

// measure runs cmd until the record log holds want records, sampling its
// process tree, then stops it with SIGTERM.
func measure(name string, cmd *exec.Cmd, recordLog string, want int) (result, error) {
	var logBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	var r result
	var firstAt time.Time
	var cpuAtFirst float64
	var peak int64
	counter := &lineCounter{path: recordLog}
	deadline := start.Add(10 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		cpu, rss := treeUsage(cmd.Process.Pid)
		peak = max(peak, rss)
		n := counter.count()
		if n > 0 && firstAt.IsZero() {
			firstAt, cpuAtFirst = time.Now(), cpu
		}
		if n >= want {
			now := time.Now()
			r.firstRecord = firstAt.Sub(start)
			// n, not want: a sample taken late (a loaded machine) has seen
			// more records, and the time and CPU they took.
			r.rps = float64(n) / now.Sub(firstAt).Seconds()
			r.cpuPer100k = cpu * 100000 / float64(n)
			r.cpuDeliveryPer100k = (cpu - cpuAtFirst) * 100000 / float64(n)
			r.rssMB = float64(peak) / (1 << 20)
			fmt.Fprintf(os.Stderr, "nativebench: %s: %d records, %.0f records/s, %.2f CPU s, peak RSS %.0f MB, first record after %v\n",
				name, n, r.rps, cpu, r.rssMB, r.firstRecord.Round(100*time.Millisecond))
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%s: %d of %d records after 10 min; log:\n%s", name, n, want, tail(logBuf.String()))
		}
		if cmd.ProcessState != nil || syscall.Kill(cmd.Process.Pid, 0) != nil {
			return r, fmt.Errorf("%s exited with %d of %d records; log:\n%s", name, n, want, tail(logBuf.String()))
		}
	}
	return r, nil
}

// lineCounter counts the R lines of a growing record log.
type lineCounter struct {
	path string
	off  int64
	n    int
}

func (c *lineCounter) count() int {
	f, err := os.Open(c.path)
	if err != nil {
		return c.n
	}
	defer f.Close()
	if _, err := f.Seek(c.off, 0); err != nil {
		return c.n
	}
	br := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		c.off += int64(len(line))
		if err != nil {
			c.off -= int64(len(line)) // a partial line: read it again next time
			break
		}
		if len(line) > 0 && line[0] == 'R' {
			c.n++
		}
	}
	return c.n
}

// treeUsage returns the CPU seconds (user + system) and the resident bytes
// of pid and all its descendants.
func treeUsage(pid int) (cpu float64, rss int64) {
	const hz = 100 // USER_HZ
	for _, p := range tree(pid) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil {
			if i := bytes.LastIndexByte(b, ')'); i > 0 {
				f := strings.Fields(string(b[i+2:]))
				if len(f) > 13 {
					u, _ := strconv.ParseFloat(f[11], 64)
					s, _ := strconv.ParseFloat(f[12], 64)
					cpu += (u + s) / hz
				}
			}
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p)); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "VmRSS:") {
					kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
					rss += kb << 10
				}
			}
		}
	}
	return cpu, rss
}

// tree returns pid and its descendants.
func tree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, s := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(s); err == nil && !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

func median(rs []result) result {
	m := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return result{
		rps:                m(func(r result) float64 { return r.rps }),
		cpuPer100k:         m(func(r result) float64 { return r.cpuPer100k }),
		cpuDeliveryPer100k: m(func(r result) float64 { return r.cpuDeliveryPer100k }),
		rssMB:              m(func(r result) float64 { return r.rssMB }),
		firstRecord:        time.Duration(m(func(r result) float64 { return float64(r.firstRecord) })),
	}
}

func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
