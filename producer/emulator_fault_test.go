package producer_test

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kclgo/kclgo/producer"
)

// faultProxy is a reverse proxy in front of the emulator that, while down,
// answers every request in turn with a 500, a dropped connection, or a 500
// after forwarding it (so the put happened but the producer cannot know).
type faultProxy struct {
	*httptest.Server
	down                          atomic.Bool
	n, errors500, drops, lostAcks atomic.Int64
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	fp := &faultProxy{}
	fp.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fp.down.Load() {
			rp.ServeHTTP(w, r)
			return
		}
		switch fp.n.Add(1) % 3 {
		case 0:
			fp.errors500.Add(1)
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"injected outage"}`))
		case 1:
			fp.drops.Add(1)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			fp.lostAcks.Add(1)
			rp.ServeHTTP(httptest.NewRecorder(), r)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(fp.Close)
	return fp
}

// runOutage puts records from several goroutines at a steady pace while the
// proxy is down for outage, then checks that every record was read back or
// reported failed.
func runOutage(t *testing.T, ttl, outage time.Duration) (st producer.Stats, failed, dups int) {
	base := emulator(t)
	direct := kinesisClient(base)
	stream := createStream(t, direct, 2)
	fp := newFaultProxy(t, base)
	begin := time.Now()
	var mu sync.Mutex
	reported := map[[2]int]bool{}
	p, err := producer.New(context.Background(), kinesisClient(fp.URL), producer.Config{
		StreamName: stream, Linger: 20 * time.Millisecond, RecordTTL: ttl,
		RetryBaseDelay: 50 * time.Millisecond, RetryMaxDelay: 500 * time.Millisecond, RequestTimeout: 2 * time.Second,
		OnBatch: func(bi producer.BatchInfo) {
			if testing.Verbose() {
				t.Logf("%v batch: %d entries, %v, err %v", time.Since(begin), bi.Entries, bi.Duration, bi.Err)
			}
		},
		OnFailure: func(fr *producer.FailedRecord) {
			var w, i int
			if _, err := fmtSscanf(fr.Data, &w, &i); err != nil {
				t.Errorf("failed record with unknown data %.30q", fr.Data)
				return
			}
			mu.Lock()
			reported[[2]int{w, i}] = true
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	const g, n, keys = 4, 3000, 20
	go func() {
		time.Sleep(700 * time.Millisecond)
		fp.down.Store(true)
		time.Sleep(outage)
		fp.down.Store(false)
	}()
	var wg sync.WaitGroup
	for w := range g {
		wg.Go(func() {
			for i := range n {
				pk, data := loadRecord(w, i, keys)
				if err := p.Put(context.Background(), pk, data); err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				if i%100 == 99 {
					time.Sleep(50 * time.Millisecond) // ~1.5 s of puts per goroutine
				}
			}
		})
	}
	wg.Wait()
	t0 := time.Now()
	time.Sleep(outage) // make sure the outage is over before Close
	closeErr := p.Close(context.Background())
	t.Logf("puts done at %v; Close took %v", t0.Sub(begin), time.Since(t0)-outage)
	st = p.Stats()
	t.Logf("outage: %d 500s, %d dropped connections, %d lost acks; stats %+v; Close: %v",
		fp.errors500.Load(), fp.drops.Load(), fp.lostAcks.Load(), st, closeErr)
	if fp.n.Load() == 0 {
		t.Fatal("no request hit the outage")
	}
	got := readAll(t, direct, stream)
	res := checkLoad(t, got, g, n, keys)
	lost := 0
	for w := range res.seen {
		for i, k := range res.seen[w] {
			if k > 1 {
				dups += k - 1
			}
			if k == 0 && !reported[[2]int{w, i}] {
				lost++
				if lost < 5 {
					t.Errorf("record %d/%d neither delivered nor reported failed", w, i)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d records lost silently", lost)
	}
	if int64(len(reported)) != st.Failures {
		t.Errorf("%d distinct records reported, Stats.Failures %d", len(reported), st.Failures)
	}
	if st.RecordsDelivered+st.Failures != g*n {
		t.Errorf("delivered %d + failed %d != put %d", st.RecordsDelivered, st.Failures, g*n)
	}
	return st, len(reported), dups
}

// TestEmulatorOutageRecovers: the emulator is unreachable for 3 s mid-run;
// with the default 30 s TTL everything is delivered once it is back.
func TestEmulatorOutageRecovers(t *testing.T) {
	emulator(t) // started before counting goroutines: its gate has some
	checkGoroutines(t)
	st, failed, dups := runOutage(t, 30*time.Second, 3*time.Second)
	if failed != 0 || st.Retries == 0 {
		t.Errorf("%d failed, %d retries: want all delivered after retries", failed, st.Retries)
	}
	t.Logf("%d duplicates (puts whose response was lost)", dups)
}

// TestEmulatorOutageReportsFailures: a TTL shorter than the outage makes
// records fail; each is reported, none is lost silently.
func TestEmulatorOutageReportsFailures(t *testing.T) {
	emulator(t) // started before counting goroutines: its gate has some
	checkGoroutines(t)
	_, failed, dups := runOutage(t, 800*time.Millisecond, 2500*time.Millisecond)
	if failed == 0 {
		t.Errorf("no record failed despite a TTL shorter than the outage")
	}
	t.Logf("%d reported failed, %d duplicates", failed, dups)
}
