// Command kclbench plays the KCL MultiLangDaemon over real pipes against
// child commands and compares their speed and memory.
//
// It pre-generates the messages (one initialize, the processRecords batches,
// one shutdownRequested), then runs each child in turn, interleaved (A B C A B
// C …), so that a noisy machine affects them alike. For each run it times
// from the first byte written to the last status read, answers every
// checkpoint request and validates every line the child writes: a child must
// answer each action with the right status, checkpoint at most at a sequence
// number it was given, and, if it prints "kclbench: records=R bytes=B" on
// stderr at the end, have seen every record and every payload byte. Child CPU
// comes from wait4; peak RSS from VmHWM in /proc/PID/status, read while the
// child is still alive (wait4's maxrss would report the larger of the child
// and this process, whose RSS holds the pre-generated messages).
//
// Usage:
//
//	go build -o /tmp/kb/ ./bench/...
//	/tmp/kb/kclbench -workload small -runs 5 floor=/tmp/kb/floorchild json=/tmp/kb/jsonchild kclgo=/tmp/kb/kclgochild
//
// Each child argument is name=command; the command is split on spaces (no
// shell). The report gives each child's median over the runs and its ratio
// to the first child's median.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kclgo/kclgo/protocol"
)

type workload struct {
	batches, records, size int
}

var presets = map[string]workload{
	"small": {50, 10000, 100},
	"large": {20, 1000, 10 << 10},
}

type child struct {
	name string
	argv []string
}

type result struct {
	wall      time.Duration
	cpu       time.Duration
	rssKiB    int64
	protoByte int64
}

type messages struct {
	initialize []byte
	batches    [][]byte
	lastSeq    []string
	seqs       []map[string]bool // every sequence number of each batch
	shutdown   []byte
	records    int64
	payload    int64
}

func main() {
	wname := flag.String("workload", "small", "preset: small (50 batches × 10,000 records × 100 B) or large (20 × 1,000 × 10 KiB)")
	batches := flag.Int("batches", 0, "number of processRecords batches (overrides the preset)")
	records := flag.Int("records", 0, "records per batch (overrides the preset)")
	size := flag.Int("size", 0, "payload bytes per record (overrides the preset)")
	runs := flag.Int("runs", 5, "runs of each child, interleaved")
	distinct := flag.Int("distinct", 4, "distinct batches generated (the batches cycle through them, with fresh sequence numbers)")
	dump := flag.String("dump", "", "write the daemon's messages of one session (without checkpoint replies) to this file and exit")
	timeout := flag.Duration("timeout", 5*time.Minute, "limit for one run")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: kclbench [flags] name=command [name=command ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	w, ok := presets[*wname]
	if !ok {
		fatalf("unknown workload %q", *wname)
	}
	if *batches > 0 {
		w.batches = *batches
	}
	if *records > 0 {
		w.records = *records
	}
	if *size > 0 {
		w.size = *size
	}
	var children []child
	for _, a := range flag.Args() {
		name, cmd, ok := strings.Cut(a, "=")
		if !ok || name == "" || strings.TrimSpace(cmd) == "" {
			fatalf("child %q: want name=command", a)
		}
		children = append(children, child{name, strings.Fields(cmd)})
	}
	if *dump != "" {
		msgs := generate(w, *distinct)
		all := slices.Concat(append(append([][]byte{msgs.initialize}, msgs.batches...), msgs.shutdown)...)
		if err := os.WriteFile(*dump, all, 0o644); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if len(children) == 0 {
		flag.Usage()
		os.Exit(2)
	}

	msgs := generate(w, *distinct)
	var lineBytes int64
	for _, b := range msgs.batches {
		lineBytes += int64(len(b))
	}
	fmt.Printf("kclbench: %s workload: %d batches × %d records × %d B; %.1f MB of processRecords lines (%.2f MB each); %d runs, interleaved\n",
		*wname, w.batches, w.records, w.size, float64(lineBytes)/1e6, float64(lineBytes)/1e6/float64(w.batches), *runs)
	quoted := make([]string, len(os.Args))
	for i, a := range os.Args {
		quoted[i] = a
		if strings.ContainsAny(a, " \t'\"") {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	fmt.Printf("kclbench: %s\n", strings.Join(quoted, " "))

	results := make([][]result, len(children))
	for run := 0; run < *runs; run++ {
		for i, c := range children {
			r, err := runChild(c, msgs, *timeout)
			if err != nil {
				fatalf("run %d, child %s: %v", run+1, c.name, err)
			}
			results[i] = append(results[i], r)
			fmt.Printf("  run %d %-8s wall %8.1f ms  cpu %8.1f ms  peak RSS %6.1f MiB\n", run+1, c.name, ms(r.wall), ms(r.cpu), float64(r.rssKiB)/1024)
		}
	}

	fmt.Printf("\n%-8s %10s %7s %11s %10s %10s %10s %7s %10s %7s\n", "child", "wall ms", "×first", "records/s", "payload", "protocol", "cpu ms", "×first", "RSS MiB", "×first")
	var base result
	for i, c := range children {
		m := median(results[i])
		if i == 0 {
			base = m
		}
		secs := m.wall.Seconds()
		fmt.Printf("%-8s %10.1f %6.2f× %11.0f %7.0f MB/s %5.0f MB/s %10.1f %6.2f× %10.1f %6.2f×\n", c.name,
			ms(m.wall), m.wall.Seconds()/base.wall.Seconds(),
			float64(msgs.records)/secs, float64(msgs.payload)/1e6/secs, float64(m.protoByte)/1e6/secs,
			ms(m.cpu), m.cpu.Seconds()/base.cpu.Seconds(),
			float64(m.rssKiB)/1024, float64(m.rssKiB)/float64(base.rssKiB))
	}
	fmt.Printf("(medians of %d runs, each column's median taken on its own; records/s, payload and protocol MB/s from the median wall time)\n", *runs)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func median(rs []result) result {
	med := func(f func(result) int64) int64 {
		v := make([]int64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return result{
		wall:      time.Duration(med(func(r result) int64 { return int64(r.wall) })),
		cpu:       time.Duration(med(func(r result) int64 { return int64(r.cpu) })),
		rssKiB:    med(func(r result) int64 { return r.rssKiB }),
		protoByte: med(func(r result) int64 { return r.protoByte }),
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kclbench: "+format+"\n", args...)
	os.Exit(1)
}

// generate builds the messages as the daemon writes them. Payloads are
// random; sequence numbers are 56-digit decimals, increasing across batches.
func generate(w workload, distinct int) *messages {
	if distinct < 1 || distinct > w.batches {
		distinct = w.batches
	}
	rng := rand.New(rand.NewPCG(1, 2))
	m := &messages{
		initialize: line(protocol.Initialize{ShardID: "shardId-000000000000", SequenceNumber: ptr(protocol.SentinelTrimHorizon), SubSequenceNumber: ptr(int64(0))}),
		shutdown:   line(protocol.ShutdownRequested{}),
	}
	payloads := make([][]byte, distinct)
	for i := range payloads {
		payloads[i] = make([]byte, w.records*w.size)
		for j := range payloads[i] {
			payloads[i][j] = byte(rng.Uint32())
		}
	}
	recs := make([]protocol.Record, w.records)
	seq := 0
	for b := 0; b < w.batches; b++ {
		p := payloads[b%distinct]
		seqs := make(map[string]bool, w.records)
		for i := range recs {
			seq++
			s := fmt.Sprintf("49590338271490256608559692538361571095921575989136%06d", seq)
			seqs[s] = true
			recs[i] = protocol.Record{
				Data:                        p[i*w.size : (i+1)*w.size],
				PartitionKey:                "pk-" + strconv.Itoa(rng.IntN(1000)),
				SequenceNumber:              s,
				ApproximateArrivalTimestamp: 1795576046680 + int64(seq/100),
			}
		}
		m.batches = append(m.batches, line(protocol.ProcessRecords{Records: recs, MillisBehindLatest: ptr(int64(0))}))
		m.lastSeq = append(m.lastSeq, recs[len(recs)-1].SequenceNumber)
		m.seqs = append(m.seqs, seqs)
		m.records += int64(w.records)
		m.payload += int64(w.records * w.size)
	}
	return m
}

func line(m protocol.Message) []byte { return append(protocol.AppendMessage(nil, m), '\n') }

func ptr[T any](v T) *T { return &v }

var summaryRE = regexp.MustCompile(`kclbench: records=(\d+) bytes=(\d+)`)

// runChild plays one session: initialize, the batches, shutdownRequested,
// then closes stdin and waits for the child to exit.
func runChild(c child, m *messages, timeout time.Duration) (result, error) {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	// Blocking pipes, as the Java daemon has: a Go pipe from StdinPipe is
	// non-blocking, and a writer parked in the netpoller each time the
	// pipe is full adds a wake-up latency per 64 KiB that the daemon has not.
	stdinR, stdin, err := blockingPipe()
	if err != nil {
		return result{}, err
	}
	defer stdin.Close()
	stdoutPipe, stdoutW, err := blockingPipe()
	if err != nil {
		return result{}, err
	}
	defer stdoutPipe.Close()
	cmd.Stdin, cmd.Stdout = stdinR, stdoutW
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	stdinR.Close()
	stdoutW.Close()
	if err != nil {
		return result{}, err
	}
	timer := time.AfterFunc(timeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	fail := func(format string, args ...any) (result, error) {
		cmd.Process.Kill()
		cmd.Wait()
		return result{}, fmt.Errorf(format+"; child stderr: %s", append(args, tail(stderr.String()))...)
	}
	out := bufio.NewReaderSize(stdoutPipe, 64<<10)
	var written, read int64
	// send writes one message; answer reads the child's lines up to its
	// status for action, replying to checkpoints.
	send := func(b []byte) error {
		n, err := stdin.Write(b)
		written += int64(n)
		return err
	}
	answer := func(action string, seqs map[string]bool, checkpoints *int) error {
		for {
			l, err := out.ReadBytes('\n')
			read += int64(len(l))
			if err != nil {
				return fmt.Errorf("reading the answer to %s: %w", action, err)
			}
			l = bytes.TrimRight(l, "\r\n")
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			msg, err := protocol.Decode(l)
			if err != nil {
				return fmt.Errorf("answer to %s: %w (line %.200q)", action, err, l)
			}
			switch msg := msg.(type) {
			case protocol.Status:
				if msg.ResponseFor != action {
					return fmt.Errorf("status for %q while %s is current", msg.ResponseFor, action)
				}
				return nil
			case protocol.Checkpoint:
				if seqs == nil {
					return fmt.Errorf("checkpoint during %s", action)
				}
				if msg.SequenceNumber != nil && !seqs[*msg.SequenceNumber] {
					return fmt.Errorf("checkpoint at %q, not a sequence number of the batch", *msg.SequenceNumber)
				}
				*checkpoints++
				if err := send(line(protocol.Checkpoint{SequenceNumber: msg.SequenceNumber, SubSequenceNumber: msg.SubSequenceNumber})); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unexpected %s while %s is current", msg.Action(), action)
			}
		}
	}

	start := time.Now()
	if err := send(m.initialize); err != nil {
		return fail("writing initialize: %v", err)
	}
	if err := answer(protocol.ActionInitialize, nil, nil); err != nil {
		return fail("%v", err)
	}
	checkpoints := 0
	for i, b := range m.batches {
		if err := send(b); err != nil {
			return fail("writing batch %d: %v", i, err)
		}
		if err := answer(protocol.ActionProcessRecords, m.seqs[i], &checkpoints); err != nil {
			return fail("batch %d: %v", i, err)
		}
	}
	if err := send(m.shutdown); err != nil {
		return fail("writing shutdownRequested: %v", err)
	}
	if err := answer(protocol.ActionShutdownRequested, m.seqs[len(m.seqs)-1], &checkpoints); err != nil {
		return fail("%v", err)
	}
	wall := time.Since(start)
	rss := vmHWM(cmd.Process.Pid)
	stdin.Close()
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return result{}, fmt.Errorf("exit: %v; stderr: %s", err, tail(stderr.String()))
	}
	if checkpoints < len(m.batches) {
		return result{}, fmt.Errorf("%d checkpoints for %d batches", checkpoints, len(m.batches))
	}
	if sm := summaryRE.FindStringSubmatch(stderr.String()); sm != nil {
		if sm[1] != strconv.FormatInt(m.records, 10) || sm[2] != strconv.FormatInt(m.payload, 10) {
			return result{}, fmt.Errorf("child counted records=%s bytes=%s, want %d and %d", sm[1], sm[2], m.records, m.payload)
		}
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return result{wall: wall, cpu: cpu, rssKiB: rss, protoByte: written + read}, nil
}

// blockingPipe returns a pipe whose ends os does not put in non-blocking
// mode: reads and writes block in the kernel.
func blockingPipe() (r, w *os.File, err error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "pipe-r"), os.NewFile(uintptr(fds[1]), "pipe-w"), nil
}

// vmHWM reads the peak resident set size, in KiB, of a live process.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
