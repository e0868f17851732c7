package producer_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kclgo/kclgo/producer"
)

// TestResults: every record gets one Result with its tag; delivered ones
// carry the stored position, failed ones the error, and both every attempt.
func TestResults(t *testing.T) {
	checkGoroutines(t)
	f := newFake(2)
	f.failEntry = func(call, i int) string {
		if call == 0 && i == 0 {
			return "InternalFailure"
		}
		return ""
	}
	var mu sync.Mutex
	got := map[int]*producer.Result{}
	var failed []*producer.FailedRecord
	p := newProducer(t, f, producer.Config{Linger: time.Millisecond, RetryBaseDelay: time.Millisecond,
		AggregationMaxCount: 7,
		OnResult: func(r *producer.Result) {
			mu.Lock()
			defer mu.Unlock()
			id := r.Tag.(int)
			if got[id] != nil {
				t.Errorf("record %d: two results", id)
			}
			got[id] = r
		},
		OnFailure: func(fr *producer.FailedRecord) { failed = append(failed, fr) }})
	const n = 100
	for i := range n {
		if err := p.PutRecord(context.Background(), producer.Record{PartitionKey: fmt.Sprint("k", i%9), Data: []byte{byte(i)}, Tag: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.PutRecord(context.Background(), producer.Record{PartitionKey: "", Tag: -1}); !errors.Is(err, producer.ErrInvalidRecord) {
		t.Fatalf("invalid record: %v", err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != n || len(failed) != 0 {
		t.Fatalf("%d results, %d failures; want %d and 0", len(got), len(failed), n)
	}
	retried := 0
	for id, r := range got {
		if r.Err != nil || r.ShardID == "" || r.SequenceNumber == "" || len(r.Attempts) == 0 || r.Attempts[len(r.Attempts)-1].Err != nil {
			t.Errorf("record %d: %+v", id, r)
		}
		if len(r.Attempts) > 1 {
			retried++
			var ee *producer.EntryError
			if !errors.As(r.Attempts[0].Err, &ee) || ee.Code != "InternalFailure" {
				t.Errorf("record %d: first attempt %v", id, r.Attempts[0].Err)
			}
		}
		if r.PartitionKey != fmt.Sprint("k", id%9) {
			t.Errorf("record %d: partition key %s", id, r.PartitionKey)
		}
	}
	if retried == 0 {
		t.Error("no result shows the failed attempt")
	}
	_ = p.Close(context.Background())
}

// TestAttemptsCountEveryRequest uses the real SDK client against a local
// server that answers 500 twice: the SDK's retryer would hide those
// requests inside one call; the producer turns it off for PutRecords, so
// each request is one attempt in the Result and in FailedRecord.Attempts.
func TestAttemptsCountEveryRequest(t *testing.T) {
	checkGoroutines(t)
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch r.Header.Get("X-Amz-Target") {
		case "Kinesis_20131202.ListShards":
			_, _ = w.Write([]byte(`{"Shards":[{"ShardId":"shardId-000000000000","HashKeyRange":{"StartingHashKey":"0",` +
				`"EndingHashKey":"340282366920938463463374607431768211455"},"SequenceNumberRange":{"StartingSequenceNumber":"1"}}]}`))
		case "Kinesis_20131202.PutRecords":
			if puts.Add(1) <= 2 {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"__type":"InternalFailure","message":"injected"}`))
				return
			}
			_, _ = w.Write([]byte(`{"FailedRecordCount":0,"Records":[{"ShardId":"shardId-000000000000","SequenceNumber":"42"}]}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	var res *producer.Result
	p, err := producer.New(context.Background(), kinesisClient(srv.URL), producer.Config{StreamName: "s",
		Linger: time.Millisecond, RetryBaseDelay: time.Millisecond,
		OnResult: func(r *producer.Result) { res = r }})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PutRecord(context.Background(), producer.Record{PartitionKey: "k", Data: []byte("v"), Tag: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if puts.Load() != 3 || res == nil || len(res.Attempts) != 3 || res.Err != nil || res.SequenceNumber != "42" || res.Tag != "x" {
		t.Fatalf("%d PutRecords requests; result %+v: want 3 requests, 3 attempts, delivered", puts.Load(), res)
	}
	for i, a := range res.Attempts[:2] {
		if a.Err == nil || a.ShardID != "shardId-000000000000" || a.Start.IsZero() {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
}
