// Command producerbench measures the CPU the producer spends per record,
// against a local Kinesis endpoint that answers at once, and the cost of
// deagg's Aggregator alone on the same records.
//
// The endpoint is a child process (this binary with -serve): a 4-shard
// stream on 127.0.0.1 that answers ListShards and PutRecords without
// storing anything, so its CPU is not counted. Every measurement runs in a
// fresh child process (this binary with -worker), which reports its own CPU
// (getrusage: user + system, from just before New to Close's return), its
// peak RSS (VmHWM) and the producer's PutRecords calls.
//
// With -baseline REV, the same worker is also built from the module at git
// revision REV (git archive, with this command's source copied in) and the
// two run interleaved, baseline first then this tree, -runs times: each
// figure is a median and the ratio this/baseline compares them in one run
// on the same machine.
//
// Usage:
//
//	go run ./bench/producerbench [-baseline main] [-runs 5] [-shapes 100,10240] [-records 200000,20000] [-mode agg,plain]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	serve := flag.String("serve", "", "internal: serve the fake endpoint on this address")
	worker := flag.String("worker", "", "internal: run one measurement: producer or aggregator")
	endpoint := flag.String("endpoint", "", "internal: the endpoint's URL for -worker")
	size := flag.Int("size", 100, "internal: record size for -worker")
	records := flag.Int("n", 100000, "internal: records for -worker")
	mode := flag.String("m", "agg", "internal: agg or plain for -worker")
	keys := flag.Int("keys", 1000, "distinct partition keys")
	cpuProfile := flag.String("cpuprofile", "", "with -worker: write a CPU profile to this file")

	baseline := flag.String("baseline", "", "git revision to compare with (e.g. main); empty: this tree alone")
	runs := flag.Int("runs", 5, "runs per binary and workload")
	shapes := flag.String("shapes", "100,10240", "record sizes in bytes, comma-separated")
	counts := flag.String("records", "200000,20000", "records per run for each size")
	modes := flag.String("mode", "agg,plain", "producer modes: agg (KPL aggregation), plain")
	flag.Parse()

	switch {
	case *serve != "":
		if err := serveEndpoint(*serve); err != nil {
			fmt.Fprintln(os.Stderr, "producerbench:", err)
			os.Exit(1)
		}
		return
	case *worker != "":
		if *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err == nil {
				err = pprof.StartCPUProfile(f)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "producerbench:", err)
				os.Exit(1)
			}
			defer pprof.StopCPUProfile()
		}
		res, err := runWorker(*worker, *endpoint, *size, *records, *keys, *mode)
		if err != nil {
			fmt.Fprintln(os.Stderr, "producerbench:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(res)
		return // (runs the deferred StopCPUProfile)
	}
	if err := compare(*baseline, *runs, *shapes, *counts, *modes, *keys); err != nil {
		fmt.Fprintln(os.Stderr, "producerbench:", err)
		os.Exit(1)
	}
}

// result is one worker's measurement.
type result struct {
	Records   int     `json:"records"`
	CPUus     float64 `json:"cpu_us"`      // user + system CPU, µs
	WallS     float64 `json:"wall_s"`      // wall time, s
	PeakRSSKB int64   `json:"peak_rss_kb"` // VmHWM
	Calls     int64   `json:"calls"`       // PutRecords calls
	Entries   int64   `json:"entries"`     // Kinesis records sent
}

type workload struct {
	kind  string // producer or aggregator
	mode  string // agg or plain (producer)
	size  int
	count int
}

func (w workload) String() string {
	if w.kind == "aggregator" {
		return fmt.Sprintf("aggregator %d B", w.size)
	}
	return fmt.Sprintf("producer %s %d B", w.mode, w.size)
}

func compare(baseline string, runs int, shapes, counts, modes string, keys int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bins := []struct{ name, path string }{{"this", self}}
	if baseline != "" {
		path, dir, err := buildBaseline(baseline)
		if dir != "" {
			defer os.RemoveAll(dir)
		}
		if err != nil {
			return err
		}
		bins = []struct{ name, path string }{{baseline, path}, {"this", self}}
	}
	var works []workload
	sizes, ns := strings.Split(shapes, ","), strings.Split(counts, ",")
	for i, s := range sizes {
		size, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("-shapes: %w", err)
		}
		n := 100000
		if i < len(ns) {
			if n, err = strconv.Atoi(ns[i]); err != nil {
				return fmt.Errorf("-records: %w", err)
			}
		}
		for _, m := range strings.Split(modes, ",") {
			works = append(works, workload{"producer", m, size, n})
		}
		works = append(works, workload{"aggregator", "", size, n * 5})
	}
	srv, url, err := startEndpoint(self)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()

	got := map[string]map[workload][]result{}
	for _, b := range bins {
		got[b.name] = map[workload][]result{}
	}
	for r := range runs {
		for _, w := range works {
			for _, b := range bins {
				res, err := runChild(b.path, url, w, keys)
				if err != nil {
					return fmt.Errorf("%s %v run %d: %w", b.name, w, r, err)
				}
				got[b.name][w] = append(got[b.name][w], res)
			}
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\tbinary\tCPU µs/record\trecords/s\tpeak RSS MiB\tcalls\tKinesis records\tCPU ratio\t\n")
	for _, w := range works {
		var base float64
		for i, b := range bins {
			rs := got[b.name][w]
			cpu := median(rs, func(r result) float64 { return r.CPUus / float64(r.Records) })
			rate := median(rs, func(r result) float64 { return float64(r.Records) / r.WallS })
			rss := median(rs, func(r result) float64 { return float64(r.PeakRSSKB) / 1024 })
			calls := median(rs, func(r result) float64 { return float64(r.Calls) })
			entries := median(rs, func(r result) float64 { return float64(r.Entries) })
			ratio := ""
			if i == 0 {
				base = cpu
			} else {
				ratio = fmt.Sprintf("%.2f", cpu/base)
			}
			fmt.Fprintf(tw, "%v\t%s\t%.3f\t%.0f\t%.1f\t%.0f\t%.0f\t%s\t\n", w, b.name, cpu, rate, rss, calls, entries, ratio)
		}
	}
	return tw.Flush()
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func runChild(bin, url string, w workload, keys int) (result, error) {
	cmd := exec.Command(bin, "-worker", w.kind, "-endpoint", url, "-size", fmt.Sprint(w.size),
		"-n", fmt.Sprint(w.count), "-m", w.mode, "-keys", fmt.Sprint(keys))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, err
	}
	var res result
	if err := json.Unmarshal(out, &res); err != nil {
		return result{}, fmt.Errorf("worker output %q: %w", out, err)
	}
	return res, nil
}

// startEndpoint starts the endpoint child on a free loopback port and waits
// for its address.
func startEndpoint(self string) (*exec.Cmd, string, error) {
	cmd := exec.Command(self, "-serve", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, "", fmt.Errorf("endpoint did not start: %w", err)
	}
	return cmd, strings.TrimSpace(line), nil
}

// buildBaseline builds this command from the module at git revision rev,
// with this command's source copied in (so the baseline runs the same
// measurement on its own producer and deagg), in a temporary directory the
// caller removes.
func buildBaseline(rev string) (bin, dir string, err error) {
	src, err := os.Getwd()
	if err != nil {
		return "", dir, err
	}
	top, err := exec.Command("git", "-C", src, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", dir, fmt.Errorf("git rev-parse (run from the repository): %w", err)
	}
	root := strings.TrimSpace(string(top))
	dir, err = os.MkdirTemp("", "producerbench-base-")
	if err != nil {
		return "", dir, err
	}
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", root, rev, dir)
	archive.Stderr = os.Stderr
	if err := archive.Run(); err != nil {
		return "", dir, fmt.Errorf("git archive %s: %w", rev, err)
	}
	cmdDir := filepath.Join(dir, "bench", "producerbench")
	if err := os.MkdirAll(cmdDir, 0o755); err != nil {
		return "", dir, err
	}
	files, _ := filepath.Glob(filepath.Join(root, "bench", "producerbench", "*.go"))
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return "", dir, err
		}
		if err := os.WriteFile(filepath.Join(cmdDir, filepath.Base(f)), b, 0o644); err != nil {
			return "", dir, err
		}
	}
	bin = filepath.Join(dir, "producerbench-"+rev)
	build := exec.Command("go", "build", "-o", bin, "./bench/producerbench")
	build.Dir = dir
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return "", dir, fmt.Errorf("build the baseline: %w", err)
	}
	return bin, dir, nil
}
