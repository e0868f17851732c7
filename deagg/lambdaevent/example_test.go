package lambdaevent_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/deagg/lambdaevent"
)

// handler is a Lambda handler over a Kinesis event whose records may be KPL
// aggregates: it streams the user records one at a time and reports a
// corrupt aggregate as a batch item failure (its sequence number), so Lambda
// retries from there or sends it to the function's on-failure destination.
// In main: lambda.Start(handler).
func handler(_ context.Context, event events.KinesisEvent) (events.KinesisEventResponse, error) {
	var resp events.KinesisEventResponse
	for r, err := range lambdaevent.Iter(event.Records) {
		if ce, ok := errors.AsType[*deagg.CorruptError](err); ok {
			fmt.Printf("corrupt record %s: %s\n", ce.SequenceNumber, ce.Reason)
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.KinesisBatchItemFailure{ItemIdentifier: ce.SequenceNumber})
			break // Lambda retries from the first failure: stop here.
		}
		if r.Aggregated {
			fmt.Printf("%s %s/%d key=%s data=%q\n", r.Event.EventID, r.SequenceNumber, r.SubSequenceNumber, r.PartitionKey, r.Data)
		} else {
			fmt.Printf("%s %s key=%s data=%q\n", r.Event.EventID, r.SequenceNumber, r.PartitionKey, r.Data)
		}
	}
	return resp, nil
}

// Deaggregating in a Lambda handler.
func Example_handler() {
	// An event as Lambda delivers it: an aggregate of three user records, a
	// plain record, and a record that claims to be an aggregate but is broken.
	agg := &deagg.Aggregator{}
	for i, key := range []string{"alice", "bob", "alice"} {
		if _, err := agg.Add(deagg.Entry{PartitionKey: key, Data: fmt.Appendf(nil, "event %d", i)}); err != nil {
			panic(err)
		}
	}
	packed := agg.Flush()
	event := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{EventID: "shardId-000000000000:100", Kinesis: events.KinesisRecord{
			Data: packed.Data, PartitionKey: packed.PartitionKey, SequenceNumber: "100"}},
		{EventID: "shardId-000000000000:101", Kinesis: events.KinesisRecord{
			Data: []byte(`{"plain":true}`), PartitionKey: "carol", SequenceNumber: "101"}},
		{EventID: "shardId-000000000000:102", Kinesis: events.KinesisRecord{
			Data: deaggTestAggregate([]byte{0x1a, 0x02, 0x08, 0x00}), PartitionKey: "a", SequenceNumber: "102"}},
	}}

	resp, _ := handler(context.Background(), event)
	fmt.Println("batch item failures:", resp.BatchItemFailures)
	// Output:
	// shardId-000000000000:100 100/0 key=alice data="event 0"
	// shardId-000000000000:100 100/1 key=bob data="event 1"
	// shardId-000000000000:100 100/2 key=alice data="event 2"
	// shardId-000000000000:101 101 key=carol data="{\"plain\":true}"
	// corrupt record 102: record 0: missing required field data
	// batch item failures: [{102}]
}

// Deaggregating a whole event at once.
func ExampleDeaggregate() {
	agg := &deagg.Aggregator{}
	_, _ = agg.Add(deagg.Entry{PartitionKey: "k1", Data: []byte("one")})
	_, _ = agg.Add(deagg.Entry{PartitionKey: "k2", ExplicitHashKey: "42", Data: []byte("two")})
	event := events.KinesisEvent{Records: []events.KinesisEventRecord{
		{AwsRegion: "eu-west-1", Kinesis: events.KinesisRecord{Data: agg.Flush().Data, SequenceNumber: "7"}},
	}}
	records, err := lambdaevent.Deaggregate(event.Records)
	if err != nil {
		fmt.Println(err)
	}
	for _, r := range records {
		fmt.Println(r.Event.AwsRegion, r.SequenceNumber, r.SubSequenceNumber, r.PartitionKey, r.HasExplicitHashKey, r.ExplicitHashKey, string(r.Data))
	}
	// Output:
	// eu-west-1 7 0 k1 false  one
	// eu-west-1 7 1 k2 true 42 two
}
