package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNativeMetrics scrapes the native sample's Prometheus endpoint
// (perrecord -native -prometheus) while it consumes a stream put before it
// started: the records processed reach the records put, exactly, and every
// shard's lag (millisBehindLatest of its last read) falls to zero.
func TestNativeMetrics(t *testing.T) {
	need(t)
	t.Parallel()
	const shards, count = 2, 4000
	stream, app := unique("nm-stream"), unique("nm-app")
	produce(t, env.native, stream, shards, 0, count, "-aggregated", strconv.Itoa(count/2))
	rl := filepath.Join(t.TempDir(), "records.log")
	// 1 ms per record and 100 Kinesis records per read: the run lasts
	// seconds and each read but the last ends behind the newest record, so
	// scrapes see the run under way and the lag above zero.
	w := startNative(t, env.native, app, stream, "w1", rl, []string{"KCLGO_SAMPLE_SLEEP_MS=1"}, "-prometheus", "127.0.0.1:0", "-max-records", "100")
	var url string
	waitFor(t, 30*time.Second, "the metrics endpoint in the worker's log", func() bool {
		url = metricsURL(w.logPath)
		return url != ""
	})

	maxLag := map[string]float64{}
	var last scrape
	during := 0 // scrapes that saw part of the records
	began := time.Now()
	waitFor(t, 3*time.Minute, fmt.Sprintf("%d records processed and every shard's lag at 0", count), func() bool {
		s, err := scrapeMetrics(url)
		if err != nil {
			t.Logf("scrape: %v", err)
			return false
		}
		last = s
		for shard, v := range s.byShard("kcl_shard_behind_latest_milliseconds") {
			maxLag[shard] = max(maxLag[shard], v)
		}
		n := s.sum("kcl_processor_records_total")
		if n > 0 && n < count {
			during++
		}
		lags := s.byShard("kcl_shard_behind_latest_milliseconds")
		if n != count || len(lags) != shards {
			return false
		}
		for _, v := range lags {
			if v != 0 {
				return false
			}
		}
		return true
	})
	t.Logf("after %v: %d scrapes during the run; highest lag seen per shard (ms): %v", time.Since(began).Round(100*time.Millisecond), during, maxLag)
	t.Logf("last scrape:\n%s", last.text("kcl_"))

	waitAll(t, rl, 0, count, time.Minute) // the record log agrees
	if got := last.sum("kcl_processor_records_total"); got != count {
		t.Errorf("kcl_processor_records_total = %v, want %d (the records put)", got, count)
	}
	if during == 0 {
		t.Errorf("no scrape saw the run under way")
	}
	rising := false
	for _, v := range maxLag {
		rising = rising || v > 0
	}
	if !rising {
		t.Errorf("no shard ever reported a lag above 0 while the backlog was read: %v", maxLag)
	}
	if got := last.sum("kcl_worker_leases_held"); got != shards {
		t.Errorf("kcl_worker_leases_held = %v, want %d", got, shards)
	}
	if got := last.sum("kcl_worker_leases_taken_total"); got != shards {
		t.Errorf("kcl_worker_leases_taken_total = %v, want %d", got, shards)
	}
	if got := last.sum("kcl_worker_getrecords_duration_seconds_count"); got < shards {
		t.Errorf("kcl_worker_getrecords_duration_seconds_count = %v, want at least one call per shard", got)
	}
	for _, s := range last {
		if strings.HasPrefix(s.name, "kcl_") && !strings.Contains(s.labels, `kcl_application_name="`+app+`"`) {
			t.Errorf("a series without the application: %s{%s}", s.name, s.labels)
			break
		}
	}
	w.stop()
}

// metricsURL returns the scrape URL the sample printed, or "".
func metricsURL(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "perrecord: metrics on "); ok {
			return strings.TrimSpace(u)
		}
	}
	return ""
}

// sample is one line of the Prometheus text format.
type sample struct {
	name, labels string
	value        float64
}

type scrape []sample

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)

// scrapeMetrics reads a Prometheus text exposition.
func scrapeMetrics(url string) (scrape, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var out scrape
	for _, line := range strings.Split(string(b), "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		out = append(out, sample{name: m[1], labels: m[2], value: v})
	}
	return out, nil
}

// sum adds the values of every series of name.
func (s scrape) sum(name string) float64 {
	var n float64
	for _, x := range s {
		if x.name == name {
			n += x.value
		}
	}
	return n
}

var shardLabel = regexp.MustCompile(`kcl_shard_id="([^"]*)"`)

// byShard returns name's values by the kcl_shard_id label.
func (s scrape) byShard(name string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if m := shardLabel.FindStringSubmatch(x.labels); x.name == name && m != nil {
			out[m[1]] = x.value
		}
	}
	return out
}

// text lists the series whose names start with prefix, sorted.
func (s scrape) text(prefix string) string {
	var lines []string
	for _, x := range s {
		if strings.HasPrefix(x.name, prefix) && !strings.Contains(x.name, "_bucket") {
			lines = append(lines, fmt.Sprintf("%s{%s} %v", x.name, x.labels, x.value))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
