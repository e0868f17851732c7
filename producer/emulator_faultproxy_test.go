package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/producer"
)

// chaosProxy stands between the producer and moto and injects, per
// PutRecords request: a 500 before forwarding, a connection reset before
// forwarding, a reset after forwarding (the stream stored the records, the
// answer is lost), an answer slower than the producer's RequestTimeout
// (stored, answer lost), and entries failed one by one (those entries are
// taken out of the forwarded request and their results spliced back in as
// InternalFailure or ProvisionedThroughputExceededException). While down,
// every request fails (500, reset, or lost answer in turn). ListShards
// fails while failListShards > 0; the closed shards are taken out of the
// next hideClosed answers that get through. It remembers which user records were in
// a request whose answer was lost: the only ones allowed to be stored twice.
type chaosProxy struct {
	*httptest.Server
	target string
	slow   time.Duration // how late a slow answer comes

	mu   sync.Mutex
	rnd  *rand.Rand
	lost map[[2]int]int // user record (goroutine, index) -> times in a request whose answer was lost

	down           atomic.Bool
	failListShards atomic.Int64
	hideClosed     atomic.Int64
	counts         struct {
		puts, e500, resetBefore, resetAfter, slow, partial, entriesFailed, outage atomic.Int64
		listShards, listShardsFailed                                              atomic.Int64
	}
}

func newChaosProxy(t *testing.T, target string, seed uint64, slow time.Duration) *chaosProxy {
	cp := &chaosProxy{target: target, slow: slow, rnd: rand.New(rand.NewPCG(seed, 4)), lost: map[[2]int]int{}}
	cp.Server = httptest.NewServer(http.HandlerFunc(cp.serve))
	t.Cleanup(cp.Close)
	return cp
}

func (cp *chaosProxy) roll() float64 {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.rnd.Float64()
}

func (cp *chaosProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	switch r.Header.Get("X-Amz-Target") {
	case "Kinesis_20131202.ListShards":
		cp.counts.listShards.Add(1)
		if cp.failListShards.Add(-1) >= 0 {
			cp.counts.listShardsFailed.Add(1)
			fail500(w)
			return
		}
		cp.failListShards.Store(0)
		if cp.hideClosed.Add(-1) >= 0 {
			cp.listOpenShards(w, r, body)
			return
		}
		cp.hideClosed.Store(0)
	case "Kinesis_20131202.PutRecords":
		cp.putRecords(w, r, body)
		return
	}
	cp.forwardTo(w, r, body)
}

func fail500(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"injected"}`))
}

func reset(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		_ = conn.Close()
	}
}

type putEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string `json:",omitempty"`
}

type putResult struct {
	ShardId        string `json:",omitempty"`
	SequenceNumber string `json:",omitempty"`
	ErrorCode      string `json:",omitempty"`
	ErrorMessage   string `json:",omitempty"`
}

func (cp *chaosProxy) putRecords(w http.ResponseWriter, r *http.Request, body []byte) {
	cp.counts.puts.Add(1)
	var in struct {
		StreamName string `json:",omitempty"`
		StreamARN  string `json:",omitempty"`
		Records    []putEntry
	}
	if err := json.Unmarshal(body, &in); err != nil {
		fail500(w)
		return
	}
	if cp.down.Load() {
		switch cp.counts.outage.Add(1) % 3 {
		case 0:
			fail500(w)
		case 1:
			reset(w)
		default:
			cp.forwardLost(r, body, in.Records)
			reset(w)
		}
		return
	}
	switch x := cp.roll(); {
	case x < 0.03:
		cp.counts.e500.Add(1)
		fail500(w)
		return
	case x < 0.06:
		cp.counts.resetBefore.Add(1)
		reset(w)
		return
	case x < 0.09:
		cp.counts.resetAfter.Add(1)
		cp.forwardLost(r, body, in.Records)
		reset(w)
		return
	case x < 0.10:
		cp.counts.slow.Add(1)
		cp.forwardLost(r, body, in.Records)
		time.Sleep(cp.slow)
		fail500(w) // too late: the producer gave up on the call
		return
	case x < 0.40:
		// Fail some entries: forward the others, splice the failures in.
		keep := make([]putEntry, 0, len(in.Records))
		failed := map[int]string{}
		for i, e := range in.Records {
			switch y := cp.roll(); {
			case y < 0.03:
				failed[i] = "InternalFailure"
			case y < 0.05:
				failed[i] = "ProvisionedThroughputExceededException"
			default:
				keep = append(keep, e)
			}
		}
		if len(failed) == 0 {
			break
		}
		cp.counts.partial.Add(1)
		cp.counts.entriesFailed.Add(int64(len(failed)))
		var fwd struct {
			Records           []putResult
			FailedRecordCount int
		}
		if len(keep) > 0 {
			sub := in
			sub.Records = keep
			b, _ := json.Marshal(sub)
			status, respBody, err := cp.forward(r, b)
			if err != nil || status != http.StatusOK || json.Unmarshal(respBody, &fwd) != nil || len(fwd.Records) != len(keep) {
				cp.noteLost(keep)
				fail500(w)
				return
			}
		}
		out := struct {
			FailedRecordCount int
			Records           []putResult
		}{}
		k := 0
		for i := range in.Records {
			if code, ok := failed[i]; ok {
				out.Records = append(out.Records, putResult{ErrorCode: code, ErrorMessage: "injected"})
				out.FailedRecordCount++
				continue
			}
			res := fwd.Records[k]
			k++
			if res.ErrorCode != "" {
				out.FailedRecordCount++
			}
			out.Records = append(out.Records, res)
		}
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if _, err := w.Write(b); err != nil || r.Context().Err() != nil {
			cp.noteLost(keep)
		}
		return
	}
	status, respBody, err := cp.forward(r, body)
	if err != nil {
		cp.noteLost(in.Records)
		fail500(w)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	if _, err := w.Write(respBody); err != nil || r.Context().Err() != nil {
		cp.noteLost(in.Records) // the producer went away (its timeout): it cannot know
	}
}

// listOpenShards forwards a ListShards call and answers with the open shards
// alone, as a shard map read before the closed ones were visible would be.
func (cp *chaosProxy) listOpenShards(w http.ResponseWriter, r *http.Request, body []byte) {
	status, b, err := cp.forward(r, body)
	var out map[string]json.RawMessage
	if err != nil || status != http.StatusOK || json.Unmarshal(b, &out) != nil {
		fail500(w)
		return
	}
	var shards, open []json.RawMessage
	if err := json.Unmarshal(out["Shards"], &shards); err != nil {
		fail500(w)
		return
	}
	for _, raw := range shards {
		var s struct {
			SequenceNumberRange struct{ EndingSequenceNumber *string }
		}
		if json.Unmarshal(raw, &s) == nil && s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, raw)
		}
	}
	out["Shards"], _ = json.Marshal(open)
	b, _ = json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(b)
}

// forwardLost forwards a request whose answer the producer will not get.
func (cp *chaosProxy) forwardLost(r *http.Request, body []byte, recs []putEntry) {
	cp.noteLost(recs)
	_, _, _ = cp.forward(r, body)
}

// noteLost remembers the user records of entries that may have been stored
// without the producer learning it.
func (cp *chaosProxy) noteLost(recs []putEntry) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, e := range recs {
		urs, err := deagg.AppendRecord(nil, deagg.Record{Data: e.Data, PartitionKey: e.PartitionKey})
		if err != nil {
			continue
		}
		for _, u := range urs {
			var w, i int
			if _, err := fmt.Sscanf(string(u.Data), "%d %d ", &w, &i); err == nil {
				cp.lost[[2]int{w, i}]++
			}
		}
	}
}

func (cp *chaosProxy) forward(r *http.Request, body []byte) (int, []byte, error) {
	resp, b, err := roundTrip(cp.target, r, body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func (cp *chaosProxy) forwardTo(w http.ResponseWriter, r *http.Request, body []byte) {
	status, b, err := cp.forward(r, body)
	if err != nil {
		fail500(w)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readKCLView reads every shard from the start and returns the user records
// a KCL consumer would get: an aggregate holding a user record outside its
// shard's hash-key range is dropped whole, as the KCL does.
func readKCLView(t *testing.T, c *kinesis.Client, stream string) (all []deagg.UserRecord, where map[string][]string) {
	t.Helper()
	where = map[string][]string{}
	readShards(t, c, stream, func(s types.Shard, recs []deagg.Record) {
		lo, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
		hi, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
		for _, r := range recs {
			urs, err := deagg.AppendRecord(nil, r)
			if err != nil {
				t.Fatalf("deaggregate: %v", err)
			}
			ok := true
			for _, u := range urs {
				h := hashKey(u.PartitionKey, u.ExplicitHashKey)
				if u.Aggregated && (h.Cmp(lo) < 0 || h.Cmp(hi) > 0) {
					ok = false
				}
			}
			if ok {
				all = append(all, urs...)
			}
			for _, u := range urs {
				pos := fmt.Sprintf("%s/%s/%d", aws.ToString(s.ShardId), u.SequenceNumber, u.SubSequenceNumber)
				where[pos] = append(where[pos], fmt.Sprintf("%.12q", u.Data))
			}
		}
	})
	return all, where
}

// TestEmulatorFaults runs the producer against moto through chaosProxy, in
// both aggregation modes, with a shard split before the start (the producer
// predicts the children, moto stores on the parent), the closed parent
// hidden from the shard map New reads (so the puts land on a shard the map
// does not know: one refresh, after which the map knows it closed and no
// other), ListShards failing at the start (the SDK's retries of it recover)
// and on the first refresh, a 1 s outage mid-run, and small
// aggregates and batches so that aggregated mode makes enough calls for the
// per-request faults to fire. With a 2-minute TTL: every record put is read
// back by a KCL view of the stream (none expires), the reports are complete
// when Flush returns, and every duplicate is a record whose answer was lost
// or whose aggregate was sent again (ErrMisrouted) after landing on the
// hidden parent while the map did not know it.
func TestEmulatorFaults(t *testing.T) {
	for _, agg := range []bool{true, false} {
		t.Run(fmt.Sprint("aggregation=", agg), func(t *testing.T) {
			base := emulator(t)
			checkGoroutines(t)
			direct := kinesisClient(base)
			stream := createStream(t, direct, 3)
			splitFirstShard(t, direct, stream)
			const timeout = 2 * time.Second
			// Longer than the backlog takes to drain on a loaded machine
			// (the last records Put waited over 30 s for their first send
			// with CPU hogs, load 9 on 2 cores); expiry is the outage tests' subject.
			const ttl = 2 * time.Minute
			cp := newChaosProxy(t, base, map[bool]uint64{true: 1, false: 2}[agg], timeout+300*time.Millisecond)
			cp.failListShards.Store(2) // the SDK's retryer (3 attempts) gets through
			cp.hideClosed.Store(1)
			var mu sync.Mutex
			reported := map[[2]int]int{}
			var calls atomic.Int64
			results := map[[2]int]producer.Result{}
			p, err := producer.New(context.Background(), kinesisClient(cp.URL), producer.Config{
				StreamName: stream, DisableAggregation: !agg, AggregationMaxSize: 1024, BatchMaxRecords: map[bool]int{true: 10, false: 25}[agg],
				Linger: 5 * time.Millisecond, RetryBaseDelay: 20 * time.Millisecond, RetryMaxDelay: 500 * time.Millisecond,
				RequestTimeout: timeout, ShardMapMinInterval: 50 * time.Millisecond, RecordTTL: ttl,
				OnBatch: func(producer.BatchInfo) { calls.Add(1) },
				OnResult: func(r *producer.Result) {
					mu.Lock()
					results[r.Tag.([2]int)] = *r
					mu.Unlock()
				},
				OnFailure: func(fr *producer.FailedRecord) {
					var w, i int
					if _, err := fmt.Sscanf(string(fr.Data), "%d %d ", &w, &i); err != nil {
						t.Errorf("failed record with unknown data %.30q", fr.Data)
						return
					}
					mu.Lock()
					reported[[2]int{w, i}]++
					mu.Unlock()
				}})
			if err != nil {
				t.Fatalf("New with ListShards failing twice: %v", err)
			}
			if n := cp.counts.listShardsFailed.Load(); n != 2 {
				t.Fatalf("%d ListShards failed at the start, want 2", n)
			}
			cp.failListShards.Store(3) // the first refresh fails whole
			const g, n, keys = 4, 4000, 40
			go func() {
				for calls.Load() < 60 {
					time.Sleep(5 * time.Millisecond)
				}
				cp.down.Store(true)
				time.Sleep(time.Second)
				cp.down.Store(false)
			}()
			putLoad(t, p, g, n, keys)
			ctx, cancel := context.WithTimeout(context.Background(), ttl+time.Minute)
			defer cancel()
			if err := p.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			mu.Lock()
			nreported := len(reported)
			mu.Unlock()
			if int64(nreported) != st.Failures || st.RecordsDelivered+st.Failures != g*n || st.BufferedRecords != 0 {
				t.Errorf("when Flush returned: %d reported, stats %+v: want every record delivered or reported", nreported, st)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
			c := &cp.counts
			t.Logf("%d PutRecords requests: %d 500s, %d resets before and %d after forwarding, %d slow answers, "+
				"%d with %d entries failed, %d in the outage; ListShards %d (%d failed); stats %+v",
				c.puts.Load(), c.e500.Load(), c.resetBefore.Load(), c.resetAfter.Load(), c.slow.Load(),
				c.partial.Load(), c.entriesFailed.Load(), c.outage.Load(), c.listShards.Load(), c.listShardsFailed.Load(), st)
			for name, v := range map[string]int64{"500": c.e500.Load(), "reset before": c.resetBefore.Load(),
				"reset after": c.resetAfter.Load(), "partial": c.partial.Load(), "outage": c.outage.Load()} {
				if v == 0 {
					t.Errorf("fault %q never fired", name)
				}
			}
			if c.listShardsFailed.Load() != 5 || st.ShardMapRefreshes != 1 {
				t.Errorf("ListShards: %d failed, %d refreshes: want the failing refresh and one later", c.listShardsFailed.Load(), st.ShardMapRefreshes)
			}
			got, where := readKCLView(t, direct, stream)
			res := checkLoad(t, got, g, n, keys)
			dups, lost, unexplained := 0, 0, 0
			for w := range res.seen {
				for i, k := range res.seen[w] {
					id := [2]int{w, i}
					if k == 0 && reported[id] == 0 {
						lost++
						if lost < 5 {
							// Where it was acknowledged, and what the stream holds there
							// (another record: the emulator overwrote it).
							r := results[id]
							pos := fmt.Sprintf("%s/%s/%d", r.ShardID, r.SequenceNumber, r.SubSequenceNumber)
							t.Errorf("record %d/%d lost: acknowledged at %s (aggregated %v, %d attempts), the stream holds there %v",
								w, i, pos, r.Aggregated, len(r.Attempts), where[pos])
						}
					}
					if k > 1 {
						dups += k - 1
						resent := 0 // after its aggregate landed on a shard the map did not know
						for _, a := range results[id].Attempts {
							if errors.Is(a.Err, producer.ErrMisrouted) {
								resent++
							}
						}
						if k-1 > cp.lost[id]+resent {
							unexplained++
							if unexplained < 5 {
								t.Errorf("record %d/%d stored %d times, %d lost answers", w, i, k, cp.lost[id])
							}
						}
					}
				}
			}
			t.Logf("%d duplicates, each of a record whose answer was lost or whose aggregate was misrouted", dups)
			if lost > 0 || unexplained > 0 {
				t.Errorf("%d records lost silently, %d duplicates not explained by a lost answer", lost, unexplained)
			}
			if st.Failures != 0 {
				t.Errorf("%d records failed within a %v TTL", st.Failures, ttl)
				logged := 0
				for id, r := range results {
					if r.Err != nil && logged < 3 {
						logged++
						t.Logf("record %v failed: %v", id, r.Err)
						for _, a := range r.Attempts {
							t.Logf("  attempt at %s, %v, for %s: %v", a.Start.Format("15:04:05.000"), a.Duration, a.ShardID, a.Err)
						}
					}
				}
			}
		})
	}
}
