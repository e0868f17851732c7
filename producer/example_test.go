package producer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kclgo/kclgo/producer"
)

// The producer takes any Client; this example uses an in-memory fake stream
// of two shards. Real code passes a *kinesis.Client (see Example_sdk).
func Example() {
	ctx := context.Background()
	client := newFake(2)
	p, err := producer.New(ctx, client, producer.Config{
		StreamName: "events",
		Linger:     time.Minute, // Close sends what is left
		OnFailure: func(fr *producer.FailedRecord) {
			log.Printf("not delivered: %v", fr)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 1000 {
		if err := p.Put(ctx, fmt.Sprint("user-", i%10), fmt.Appendf(nil, "event %d", i)); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}
	st := p.Stats()
	fmt.Printf("%d user records put, %d delivered in %d Kinesis records (one aggregate per shard)\n",
		st.RecordsPut, st.RecordsDelivered, st.KinesisRecords)
	// Output:
	// 1000 user records put, 1000 delivered in 2 Kinesis records (one aggregate per shard)
}

// Example_sdk shows the producer on the AWS SDK for Go v2, as a sample
// producer would use it, with failures collected by Close.
func Example_sdk() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	p, err := producer.New(ctx, kinesis.NewFromConfig(cfg), producer.Config{StreamName: "my-stream"})
	if err != nil {
		log.Fatal(err)
	}
	for i := range 100 {
		// Put blocks while the buffer is full; a canceled ctx returns.
		if err := p.Put(ctx, fmt.Sprint("device-", i%8), []byte(`{"reading":42}`)); err != nil {
			log.Fatal(err)
		}
	}
	shutdown, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ce *producer.CloseError
	if err := p.Close(shutdown); errors.As(err, &ce) {
		for _, fr := range ce.Records {
			log.Printf("lost %s: %v", fr.PartitionKey, fr.Err)
		}
	}
}

// ExampleProducer_PutRecord follows each record to its outcome: the Tag
// given to PutRecord comes back in OnResult with the shard, sequence number
// and sub-sequence number of a delivered record, or the error of a failed
// one, and every attempt.
func ExampleProducer_PutRecord() {
	ctx := context.Background()
	outcome := map[string]string{} // order id -> where it went
	var mu sync.Mutex
	p, err := producer.New(ctx, newFake(2), producer.Config{
		StreamName: "orders",
		OnResult: func(r *producer.Result) {
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				outcome[r.Tag.(string)] = "failed: " + r.Err.Error()
				return
			}
			outcome[r.Tag.(string)] = fmt.Sprintf("%s sequence number %s/%d after %d attempt(s)",
				r.ShardID, r.SequenceNumber, r.SubSequenceNumber, len(r.Attempts))
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"order-1", "order-2", "order-3"} {
		rec := producer.Record{PartitionKey: "customer-7", Data: []byte(`{"total":12}`), Tag: id}
		if err := p.PutRecord(ctx, rec); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Flush(ctx); err != nil { // every OnResult has returned
		log.Fatal(err)
	}
	for _, id := range []string{"order-1", "order-2", "order-3"} {
		fmt.Println(id, outcome[id])
	}
	_ = p.Close(ctx)
	// Output:
	// order-1 shardId-000000000000 sequence number 1/0 after 1 attempt(s)
	// order-2 shardId-000000000000 sequence number 1/1 after 1 attempt(s)
	// order-3 shardId-000000000000 sequence number 1/2 after 1 attempt(s)
}

// Example_misrouted tells the records that were sent twice after a reshard
// the producer did not know of: their aggregate landed on a shard not
// holding all of them (a KCL consumer of that shard drops them), so they
// were routed by a re-read shard map and sent again. Their Attempts say so
// with ErrMisrouted; a consumer may read them twice.
func Example_misrouted() {
	ctx := context.Background()
	f := newFake(1)
	var mu sync.Mutex
	resent := map[string]bool{}
	p, err := producer.New(ctx, f, producer.Config{
		StreamName: "orders", Linger: time.Minute, ShardMapMinInterval: time.Millisecond, // Close sends
		OnResult: func(r *producer.Result) {
			mu.Lock()
			defer mu.Unlock()
			for _, a := range r.Attempts {
				if errors.Is(a.Err, producer.ErrMisrouted) {
					resent[r.Tag.(string)] = true
				}
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond) // past ShardMapMinInterval since New read the map
	f.split("shardId-000000000000")  // the producer still predicts the parent
	for _, id := range []string{"order-1", "order-2", "order-3", "order-4"} {
		if err := p.PutRecord(ctx, producer.Record{PartitionKey: id, Data: []byte(id), Tag: id}); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent again:", len(resent), "of 4; shard-map refreshes:", p.Stats().ShardMapRefreshes)
	// Output:
	// sent again: 4 of 4; shard-map refreshes: 1
}
