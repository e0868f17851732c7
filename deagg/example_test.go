package deagg_test

import (
	"errors"
	"fmt"

	"github.com/kclgo/kclgo/deagg"
)

// A producer packs user records into aggregates; each full one is sent with
// PutRecord or PutRecords (package kinesissdk builds the request).
func ExampleAggregator() {
	agg := &deagg.Aggregator{MaxSize: 200} // tiny, to show several aggregates
	send := func(r *deagg.AggregatedRecord) {
		fmt.Printf("put %d user records, %d bytes, partition key %q, explicit hash key %s\n",
			r.UserRecords, r.Size(), r.PartitionKey, r.ExplicitHashKey)
	}
	for i := range 10 {
		full, err := agg.Add(deagg.Entry{
			PartitionKey: fmt.Sprintf("device-%d", i%3),
			Data:         fmt.Appendf(nil, `{"reading":%d}`, i),
		})
		if err != nil {
			fmt.Println(err) // an invalid key, or a record too large to ever fit
			continue
		}
		if full != nil {
			send(full)
		}
	}
	if last := agg.Flush(); last != nil {
		send(last)
	}
	// Output:
	// put 7 user records, 184 bytes, partition key "a", explicit hash key 43769754311958810539554518939743805826
	// put 3 user records, 108 bytes, partition key "a", explicit hash key 277901890176008628857739572313990950024
}

// The callback style: OnComplete receives each full aggregate.
func ExampleAggregator_onComplete() {
	var sent []*deagg.AggregatedRecord
	agg := &deagg.Aggregator{MaxCount: 2, OnComplete: func(r *deagg.AggregatedRecord) { sent = append(sent, r) }}
	for _, key := range []string{"a", "b", "c", "d", "e"} {
		if _, err := agg.Add(deagg.Entry{PartitionKey: key, Data: []byte(key)}); err != nil {
			fmt.Println(err)
		}
	}
	sent = append(sent, agg.Flush())
	for _, r := range sent {
		fmt.Println(r.UserRecords)
	}
	_, err := agg.Add(deagg.Entry{PartitionKey: "p", ExplicitHashKey: "-1"})
	fmt.Println(errors.Is(err, deagg.ErrInvalidExplicitHashKey))
	// Output:
	// 2
	// 2
	// 1
	// true
}

// A consumer deaggregates what it reads; records that are not aggregates
// pass through unchanged.
func ExampleDeaggregate() {
	agg := &deagg.Aggregator{}
	_, _ = agg.Add(deagg.Entry{PartitionKey: "k1", Data: []byte("hello")})
	_, _ = agg.Add(deagg.Entry{PartitionKey: "k2", ExplicitHashKey: "12345", Data: []byte("world")})
	records := []deagg.Record{
		{Data: agg.Flush().Data, PartitionKey: "a", SequenceNumber: "1"},
		{Data: []byte("not an aggregate"), PartitionKey: "k3", SequenceNumber: "2"},
	}
	users, err := deagg.Deaggregate(records)
	if err != nil {
		fmt.Println(err)
	}
	for _, u := range users {
		fmt.Printf("%s aggregated=%v sub=%d key=%s ehk=%q data=%q\n",
			u.SequenceNumber, u.Aggregated, u.SubSequenceNumber, u.PartitionKey, u.ExplicitHashKey, u.Data)
	}
	// Output:
	// 1 aggregated=true sub=0 key=k1 ehk="" data="hello"
	// 1 aggregated=true sub=1 key=k2 ehk="12345" data="world"
	// 2 aggregated=false sub=0 key=k3 ehk="" data="not an aggregate"
}

// Streaming: one user record at a time, a corrupt record as an error in
// place.
func ExampleIter() {
	agg := &deagg.Aggregator{}
	_, _ = agg.Add(deagg.Entry{PartitionKey: "k", Data: []byte("x")})
	broken := wrap([]byte{0x1a, 0x05, 0x08, 0x03}) // truncated protobuf, valid MD5
	records := []deagg.Record{
		{Data: agg.Flush().Data, SequenceNumber: "1"},
		{Data: broken, SequenceNumber: "2"},
	}
	for u, err := range deagg.Iter(records) {
		if ce, ok := errors.AsType[*deagg.CorruptError](err); ok {
			fmt.Println("dead-letter", ce.SequenceNumber, len(ce.Raw.Data), "bytes:", ce.Reason)
			continue
		}
		fmt.Println(u.SequenceNumber, u.PartitionKey, string(u.Data))
	}
	// Output:
	// 1 k x
	// dead-letter 2 24 bytes: records (field 3) at offset 0: truncated (unexpected end of data)
}
