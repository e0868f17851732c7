package producer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/producer"
)

// checkGoroutines fails the test if goroutines started during it are still
// running at its end (after a grace period).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func newProducer(t *testing.T, f *fakeKinesis, cfg producer.Config) *producer.Producer {
	t.Helper()
	cfg.StreamName = "s"
	p, err := producer.New(context.Background(), f, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type sent struct {
	pk   string
	data []byte
}

// putMany puts n records from g goroutines; record i of goroutine w has
// partition key "pk-w-(i%keys)" and data "w/i" padded to a mixed size.
func putMany(t *testing.T, p *producer.Producer, g, n, keys int) map[string][]sent {
	t.Helper()
	var mu sync.Mutex
	want := map[string][]sent{}
	var wg sync.WaitGroup
	for w := range g {
		wg.Go(func() {
			for i := range n {
				pk := fmt.Sprintf("pk-%d-%d", w, i%keys)
				data := fmt.Appendf(nil, "%d/%d/", w, i)
				data = append(data, bytes.Repeat([]byte{'x'}, (i*37)%700)...)
				if err := p.Put(context.Background(), pk, data); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want[pk] = append(want[pk], sent{pk, data})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return want
}

// checkExactlyOnce compares what a KCL consumer reads with what was put:
// every record exactly once and, when ordered, in per-key order.
func checkExactlyOnce(t *testing.T, got []deagg.UserRecord, want map[string][]sent, ordered bool) {
	t.Helper()
	byKey := map[string][][]byte{}
	for _, u := range got {
		byKey[u.PartitionKey] = append(byKey[u.PartitionKey], u.Data)
	}
	total := 0
	for pk, ws := range want {
		total += len(ws)
		gs := byKey[pk]
		if len(gs) != len(ws) {
			t.Errorf("partition key %s: got %d records, want %d", pk, len(gs), len(ws))
			continue
		}
		if !ordered {
			continue
		}
		for i := range ws {
			if !bytes.Equal(gs[i], ws[i].data) {
				t.Errorf("partition key %s: record %d out of order: got %.20q want %.20q", pk, i, gs[i], ws[i].data)
				break
			}
		}
	}
	if len(got) != total {
		t.Errorf("got %d user records, want %d", len(got), total)
	}
}

func TestAggregatesPerShard(t *testing.T) {
	checkGoroutines(t)
	f := newFake(4)
	p := newProducer(t, f, producer.Config{})
	want := putMany(t, p, 4, 2000, 50)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, dropped, err := f.kclView()
	if err != nil || dropped != 0 {
		t.Fatalf("kclView: dropped %d, err %v", dropped, err)
	}
	checkExactlyOnce(t, got, want, true)
	st := p.Stats()
	if st.RecordsDelivered != 8000 || st.KinesisRecords >= 8000 || st.Failures != 0 || st.BufferedRecords != 0 ||
		st.Misrouted != 0 || st.ShardMapRefreshes != 0 { // all 4 shards (2 ListShards pages) known
		t.Errorf("stats %+v", st)
	}
	for _, u := range got {
		if !u.Aggregated {
			t.Fatalf("record %q not aggregated", u.PartitionKey)
		}
	}
}

func TestNoAggregation(t *testing.T) {
	checkGoroutines(t)
	f := newFake(3)
	p := newProducer(t, f, producer.Config{DisableAggregation: true, Linger: 5 * time.Millisecond})
	want := putMany(t, p, 3, 1000, 20)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := f.kclView()
	checkExactlyOnce(t, got, want, true)
	for _, u := range got {
		if u.Aggregated {
			t.Fatal("aggregated record with aggregation off")
		}
	}
	if st := p.Stats(); st.KinesisRecords != 3000 || st.Requests < 6 {
		t.Errorf("stats %+v", st)
	}
}

func TestSingleRecordAggregateSentPlain(t *testing.T) {
	f := newFake(1)
	p := newProducer(t, f, producer.Config{})
	if err := p.PutWithHashKey(context.Background(), "k", "12345", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := f.shards[0].records
	if len(r) != 1 || r[0].PartitionKey != "k" || string(r[0].Data) != "v" {
		t.Fatalf("got %+v, want one plain record", r)
	}
}

func TestRetriesThrottledEntries(t *testing.T) {
	checkGoroutines(t)
	f := newFake(2)
	f.failEntry = func(call, i int) string {
		if call < 6 && i%2 == 0 {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}
	f.callErr = func(call int) error {
		if call == 7 {
			return errors.New("connection reset")
		}
		return nil
	}
	p := newProducer(t, f, producer.Config{Linger: 10 * time.Millisecond, RetryBaseDelay: time.Millisecond,
		AggregationMaxSize: 4096})
	want := putMany(t, p, 2, 2000, 10)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := f.kclView()
	checkExactlyOnce(t, got, want, false)
	if st := p.Stats(); st.Retries == 0 || st.Failures != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestExpiredRecordsReported(t *testing.T) {
	checkGoroutines(t)
	f := newFake(2)
	f.failEntry = func(call, i int) string { return "InternalFailure" }
	var mu sync.Mutex
	var reported []*producer.FailedRecord
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, RecordTTL: 200 * time.Millisecond,
		RetryBaseDelay: 5 * time.Millisecond, OnFailure: func(fr *producer.FailedRecord) {
			mu.Lock()
			reported = append(reported, fr)
			mu.Unlock()
		}})
	for i := range 100 {
		if err := p.Put(context.Background(), fmt.Sprint("k", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	err := p.Close(context.Background())
	var ce *producer.CloseError
	if !errors.As(err, &ce) || ce.Failed != 100 || len(ce.Records) != 0 {
		t.Fatalf("Close: %v", err)
	}
	if len(reported) != 100 {
		t.Fatalf("reported %d failures, want 100", len(reported))
	}
	seen := map[string]bool{}
	for _, fr := range reported {
		var ee *producer.EntryError
		if !errors.Is(fr, producer.ErrExpired) || !errors.As(fr, &ee) || ee.Code != "InternalFailure" || fr.Attempts < 2 {
			t.Fatalf("failure %v: want ErrExpired wrapping InternalFailure after retries", fr)
		}
		seen[fr.PartitionKey] = true
	}
	if len(seen) != 100 {
		t.Errorf("%d distinct keys reported", len(seen))
	}
}

func TestCloseErrorListsRecords(t *testing.T) {
	f := newFake(1)
	f.callErr = func(int) error { return errors.New("down") }
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, RecordTTL: 50 * time.Millisecond, RetryBaseDelay: time.Millisecond})
	for i := range 5 {
		if err := p.Put(context.Background(), "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	err := p.Close(context.Background())
	var ce *producer.CloseError
	var fr *producer.FailedRecord
	if !errors.As(err, &ce) || len(ce.Records) != 5 || !errors.As(err, &fr) || !errors.Is(err, producer.ErrExpired) {
		t.Fatalf("Close: %v", err)
	}
	if fr.PartitionKey != "k" {
		t.Errorf("failed record %+v", fr)
	}
	if err := p.Put(context.Background(), "k", nil); !errors.Is(err, producer.ErrClosed) {
		t.Errorf("Put after Close: %v", err)
	}
}

func TestBackPressure(t *testing.T) {
	checkGoroutines(t)
	f := newFake(1)
	f.block = make(chan struct{})
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, MaxBufferedRecords: 10})
	for i := range 10 {
		if err := p.Put(context.Background(), "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Put(ctx, "k", []byte("more")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put on a full buffer: %v, want DeadlineExceeded", err)
	}
	done := make(chan error)
	go func() { done <- p.Put(context.Background(), "k", []byte("later")) }()
	select {
	case err := <-done:
		t.Fatalf("Put returned %v while the buffer is full", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(f.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RecordsDelivered != 11 {
		t.Errorf("stats %+v", st)
	}
}

func TestBackPressureBytes(t *testing.T) {
	f := newFake(1)
	f.block = make(chan struct{})
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, MaxBufferedBytes: 1000})
	if err := p.Put(context.Background(), "k", make([]byte, 900)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.Put(ctx, "k", make([]byte, 200)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put over MaxBufferedBytes: %v", err)
	}
	close(f.block)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCloseTimeoutFailsEverything(t *testing.T) {
	checkGoroutines(t)
	f := newFake(2)
	f.block = make(chan struct{}) // never answers
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond})
	for i := range 50 {
		if err := p.Put(context.Background(), fmt.Sprint(i), []byte("d")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond) // let some be in flight
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Close(ctx)
	var ce *producer.CloseError
	if !errors.As(err, &ce) || ce.Failed != 50 || len(ce.Records) != 50 || !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Close: %v", err)
	}
	if st := p.Stats(); st.BufferedRecords != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestFlushAndLinger(t *testing.T) {
	checkGoroutines(t)
	f := newFake(1)
	p := newProducer(t, f, producer.Config{Linger: time.Hour})
	if err := p.Put(context.Background(), "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if st := p.Stats(); st.RecordsDelivered != 0 {
		t.Fatal("sent before linger or Flush")
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RecordsDelivered != 1 {
		t.Fatalf("Flush returned before delivery: %+v", st)
	}
	_ = p.Close(context.Background())

	p = newProducer(t, f, producer.Config{Linger: 30 * time.Millisecond})
	defer p.Close(context.Background())
	start := time.Now()
	_ = p.Put(context.Background(), "a", []byte("2"))
	for p.Stats().RecordsDelivered == 0 {
		if time.Since(start) > 2*time.Second {
			t.Fatal("not sent after linger")
		}
		time.Sleep(time.Millisecond)
	}
	if d := time.Since(start); d < 25*time.Millisecond {
		t.Errorf("sent after %v, before the linger", d)
	}
}

func TestInvalidRecords(t *testing.T) {
	f := newFake(1)
	p := newProducer(t, f, producer.Config{})
	defer p.Close(context.Background())
	ctx := context.Background()
	for name, err := range map[string]error{
		"empty key":  p.Put(ctx, "", []byte("x")),
		"long key":   p.Put(ctx, string(bytes.Repeat([]byte("k"), 257)), nil),
		"bad utf8":   p.Put(ctx, "\xff", nil),
		"too large":  p.Put(ctx, "k", make([]byte, producer.MaxRecordSize)),
		"ehk sign":   p.PutWithHashKey(ctx, "k", "-1", nil),
		"ehk 2^128":  p.PutWithHashKey(ctx, "k", "340282366920938463463374607431768211456", nil),
		"ehk zero-0": p.PutWithHashKey(ctx, "k", "01", nil),
	} {
		if !errors.Is(err, producer.ErrInvalidRecord) {
			t.Errorf("%s: %v, want ErrInvalidRecord", name, err)
		}
	}
	if err := p.Put(ctx, "k", make([]byte, producer.MaxRecordSize-1)); err != nil {
		t.Errorf("largest record: %v", err)
	}
}

func TestLargeRecordBetweenAggregates(t *testing.T) {
	f := newFake(1)
	p := newProducer(t, f, producer.Config{AggregationMaxSize: producer.MaxRecordSize})
	ctx := context.Background()
	_ = p.Put(ctx, "k", []byte("a"))
	_ = p.Put(ctx, "k", []byte("b"))
	_ = p.Put(ctx, "k", make([]byte, producer.MaxRecordSize-10)) // fits plain, not aggregated
	_ = p.Put(ctx, "k", []byte("c"))
	_ = p.Put(ctx, "k", []byte("d"))
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, _, _ := f.kclView()
	var order []int
	for _, u := range got {
		order = append(order, len(u.Data))
	}
	if fmt.Sprint(order) != fmt.Sprint([]int{1, 1, producer.MaxRecordSize - 10, 1, 1}) || string(got[3].Data) != "c" {
		t.Fatalf("got sizes %v", order)
	}
}

func TestReshardReroutesAggregates(t *testing.T) {
	checkGoroutines(t)
	f := newFake(1)
	var batches atomic.Int64
	p := newProducer(t, f, producer.Config{Linger: 5 * time.Millisecond, ShardMapMinInterval: time.Millisecond,
		OnBatch: func(producer.BatchInfo) { batches.Add(1) }})
	ctx := context.Background()
	want := map[string][]sent{}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			pk := fmt.Sprint("key-", i%40)
			d := fmt.Appendf(nil, "%d", i)
			if err := p.Put(ctx, pk, d); err != nil {
				t.Fatal(err)
			}
			want[pk] = append(want[pk], sent{pk, d})
		}
	}
	put(0, 500)
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	f.split("shardId-000000000000") // the producer's map is now stale
	put(500, 1000)
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, dropped, err := f.kclView()
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	if st.Misrouted == 0 || st.ShardMapRefreshes == 0 || batches.Load() != st.Requests {
		t.Errorf("stats %+v (OnBatch calls %d)", st, batches.Load())
	}
	// The misrouted aggregate is dropped by the KCL; its records were re-sent.
	if dropped == 0 {
		t.Errorf("expected the misrouted aggregate to be unreadable by the KCL")
	}
	checkExactlyOnce(t, got, want, false)
}

func TestTinyBatchLimits(t *testing.T) {
	f := newFake(2)
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, BatchMaxBytes: 10, BatchMaxRecords: 1,
		AggregationMaxSize: 100})
	want := putMany(t, p, 2, 100, 5)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _, _ := f.kclView()
	checkExactlyOnce(t, got, want, true)
	if st := p.Stats(); st.Requests != st.KinesisRecords {
		t.Errorf("stats %+v: want one entry per call", st)
	}
}

func TestPermanentErrorFailsAtOnce(t *testing.T) {
	f := newFake(1)
	f.callErr = func(int) error {
		return &smithy.GenericAPIError{Code: "ResourceNotFoundException", Message: "stream s not found"}
	}
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond})
	if err := p.PutWithHashKey(context.Background(), "k", "42", []byte("v")); err != nil {
		t.Fatal(err)
	}
	err := p.Close(context.Background())
	var fr *producer.FailedRecord
	var ae smithy.APIError
	if !errors.As(err, &fr) || !errors.As(err, &ae) || ae.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("Close: %v", err)
	}
	if fr.Attempts != 1 || fr.PartitionKey != "k" || fr.ExplicitHashKey != "42" || string(fr.Data) != "v" || errors.Is(err, producer.ErrExpired) {
		t.Errorf("failed record %+v", fr)
	}
}

func TestPutBlockedReturnsOnClose(t *testing.T) {
	checkGoroutines(t)
	f := newFake(1)
	f.block = make(chan struct{})
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, MaxBufferedRecords: 1})
	if err := p.Put(context.Background(), "k", []byte("1")); err != nil {
		t.Fatal(err)
	}
	blocked := make(chan error)
	go func() { blocked <- p.Put(context.Background(), "k", []byte("2")) }()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error)
	go func() { closed <- p.Close(context.Background()) }()
	if err := <-blocked; !errors.Is(err, producer.ErrClosed) {
		t.Errorf("blocked Put: %v, want ErrClosed", err)
	}
	close(f.block)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RecordsDelivered != 1 || st.RecordsPut != 1 {
		t.Errorf("stats %+v", st)
	}
}

// BenchmarkPut measures the producer's own cost per record against the
// in-memory fake (no network): 256-byte records, 1000 partition keys,
// 4 shards, delivered by Close. The "+results" cases put with PutRecord and
// a Tag and receive every Result in OnResult: the cost of asking for
// per-record outcomes, against the same mode without.
func BenchmarkPut(b *testing.B) {
	var results atomic.Int64
	onResult := func(r *producer.Result) {
		if r.Err == nil && r.Tag != nil {
			results.Add(1)
		}
	}
	for _, bc := range []struct {
		name string
		cfg  producer.Config
	}{
		{"aggregated", producer.Config{}},
		{"aggregated+results", producer.Config{OnResult: onResult}},
		{"plain", producer.Config{DisableAggregation: true}},
		{"plain+results", producer.Config{DisableAggregation: true, OnResult: onResult}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFake(4)
			cfg := bc.cfg
			cfg.StreamName = "s"
			p, err := producer.New(context.Background(), f, cfg)
			if err != nil {
				b.Fatal(err)
			}
			keys := make([]string, 1000)
			for i := range keys {
				keys[i] = fmt.Sprint("key-", i)
			}
			data := make([]byte, 256)
			withTag := cfg.OnResult != nil
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					var err error
					if withTag {
						err = p.PutRecord(context.Background(), producer.Record{PartitionKey: keys[i%len(keys)], Data: data, Tag: i})
					} else {
						err = p.Put(context.Background(), keys[i%len(keys)], data)
					}
					if err != nil {
						b.Error(err)
						return
					}
					i++
				}
			})
			if err := p.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestFullBufferForcesSends: with a linger that never ends, a full buffer
// must still make the producer send (partial aggregates and batches spread
// over shards), or Put would block forever.
func TestFullBufferForcesSends(t *testing.T) {
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprint("aggregation=", agg), func(t *testing.T) {
			checkGoroutines(t)
			f := newFake(4)
			f.failEntry = func(call, i int) string {
				if call < 8 {
					return "ProvisionedThroughputExceededException" // backoff while full
				}
				return ""
			}
			p := newProducer(t, f, producer.Config{Linger: time.Hour, MaxBufferedRecords: 1000, DisableAggregation: !agg,
				RetryBaseDelay: 20 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i := range 20_000 {
				if err := p.Put(ctx, fmt.Sprint("k", i%97), []byte("0123456789")); err != nil {
					t.Fatalf("Put %d: %v (stats %+v)", i, err, p.Stats())
				}
			}
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if st := p.Stats(); st.RecordsDelivered != 20_000 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFlushDuringBackoff(t *testing.T) {
	f := newFake(1)
	f.failEntry = func(call, i int) string {
		if call == 0 {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}
	p := newProducer(t, f, producer.Config{Linger: time.Hour, RetryBaseDelay: 20 * time.Millisecond})
	defer p.Close(context.Background())
	_ = p.Put(context.Background(), "k", []byte("v"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.RecordsDelivered != 1 || st.Retries != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestChaos puts records from several goroutines while the fake throttles
// entries, fails calls, loses acknowledgements and splits shards, with a TTL
// short enough that some records fail: every record must be read by a KCL
// consumer or reported failed, and the counters must add up.
func TestChaos(t *testing.T) {
	checkGoroutines(t)
	f := newFake(3)
	var rmu sync.Mutex
	rnd := rand.New(rand.NewPCG(1, 2))
	chance := func(pct int) bool {
		rmu.Lock()
		defer rmu.Unlock()
		return rnd.IntN(100) < pct
	}
	f.failEntry = func(call, i int) string {
		if chance(15) {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}
	f.callErr = func(int) error {
		if chance(5) {
			return errors.New("connection reset")
		}
		return nil
	}
	f.lostAck = func(int) error {
		if chance(5) {
			return errors.New("read: connection reset")
		}
		return nil
	}
	var fmu sync.Mutex
	reported := map[string]int{}
	p := newProducer(t, f, producer.Config{Linger: 2 * time.Millisecond, RecordTTL: 40 * time.Millisecond,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 10 * time.Millisecond, ShardMapMinInterval: time.Millisecond,
		AggregationMaxSize: 8 << 10, MaxBufferedRecords: 3000,
		OnFailure: func(fr *producer.FailedRecord) {
			fmu.Lock()
			reported[string(fr.Data)]++
			fmu.Unlock()
		}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Split while records are still to be put (the buffer holds 3000).
		for k, id := range []string{"shardId-000000000000", "shardId-000000000003", "shardId-000000000001"} {
			for p.Stats().RecordsPut < int64(4000*(k+1)) {
				time.Sleep(100 * time.Microsecond)
			}
			f.split(id)
		}
	}()
	want := putMany(t, p, 4, 5000, 30)
	<-done
	if err := p.Close(context.Background()); err != nil {
		var ce *producer.CloseError
		if !errors.As(err, &ce) {
			t.Fatal(err)
		}
	}
	got, dropped, err := f.kclView()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, u := range got {
		seen[string(u.Data)]++
	}
	lost, total := 0, 0
	for _, ws := range want {
		for _, w := range ws {
			total++
			if seen[string(w.data)] == 0 && reported[string(w.data)] == 0 {
				lost++
			}
		}
	}
	st := p.Stats()
	t.Logf("stats %+v; KCL dropped %d misrouted user records; %d reported", st, dropped, len(reported))
	if lost > 0 {
		t.Errorf("%d of %d records neither read nor reported", lost, total)
	}
	for d, n := range reported {
		if n != 1 {
			t.Errorf("record %.20q reported %d times", d, n)
		}
	}
	if st.RecordsDelivered+st.Failures != int64(total) || st.BufferedRecords != 0 {
		t.Errorf("delivered %d + failed %d != %d put", st.RecordsDelivered, st.Failures, total)
	}
	if st.Retries == 0 || st.ShardMapRefreshes == 0 {
		t.Errorf("chaos did not happen: %+v", st)
	}
}

func TestPutCanceledContext(t *testing.T) {
	p := newProducer(t, newFake(1), producer.Config{})
	defer p.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Put(ctx, "k", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context: %v", err)
	}
	if st := p.Stats(); st.RecordsPut != 0 {
		t.Errorf("stats %+v", st)
	}
}
