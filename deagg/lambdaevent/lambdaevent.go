// Package lambdaevent deaggregates the Kinesis records of an AWS Lambda
// event (github.com/aws/aws-lambda-go/events), in bulk or streaming, as
// aws_kinesis_agg's deaggregate_records and iter_deaggregate_records do:
// every user record keeps the fields of the event record that carried it.
//
// A corrupt aggregate (see package deagg) gives a *deagg.CorruptError whose
// SequenceNumber is the event record's: report it as a batch item failure
// (events.KinesisBatchItemFailure{ItemIdentifier: ce.SequenceNumber}), or
// use deagg.PassThroughCorrupt to receive it as one user record instead.
package lambdaevent

import (
	"iter"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/deagg/internal/adapt"
)

// Record is one user record with the Lambda event record that carried it.
// Data aliases the event's data (see package deagg).
type Record struct {
	deagg.UserRecord
	// Event is the enclosing event record, unchanged: its EventID,
	// EventSourceArn, AwsRegion... apply to the user record; its
	// Kinesis.Data is the whole aggregate and its Kinesis.PartitionKey the
	// aggregate's own.
	Event events.KinesisEventRecord
}

// KinesisEventRecord returns r in the shape of a Lambda event record: Event
// with the user record's data and partition key, what aws_kinesis_agg
// returns, for handlers written for events.KinesisEventRecord. The explicit
// hash key and sub-sequence number have no place there; they stay on r.
func (r *Record) KinesisEventRecord() events.KinesisEventRecord {
	ev := r.Event
	ev.Kinesis.Data = r.Data
	ev.Kinesis.PartitionKey = r.PartitionKey
	return ev
}

// ToRecord returns the deagg view of an event record.
func ToRecord(r *events.KinesisEventRecord) deagg.Record {
	return deagg.Record{
		Data:                        r.Kinesis.Data,
		PartitionKey:                r.Kinesis.PartitionKey,
		SequenceNumber:              r.Kinesis.SequenceNumber,
		ApproximateArrivalTimestamp: r.Kinesis.ApproximateArrivalTimestamp.Time,
	}
}

func wrap(r *events.KinesisEventRecord, u deagg.UserRecord) Record {
	return Record{UserRecord: u, Event: *r}
}

func adapter() adapt.Adapter[events.KinesisEventRecord, Record] {
	return adapt.Adapter[events.KinesisEventRecord, Record]{Record: ToRecord, Wrap: wrap}
}

// Deaggregate returns the user records of an event's records (event.Records),
// in order. Corrupt records give *deagg.CorruptError values, joined; the user
// records of every other record are still returned.
func Deaggregate(records []events.KinesisEventRecord, opts ...deagg.Option) ([]Record, error) {
	return adapter().Append(nil, records, opts)
}

// AppendRecords is Deaggregate appending to dst (pass dst[:0] to reuse it).
func AppendRecords(dst []Record, records []events.KinesisEventRecord, opts ...deagg.Option) ([]Record, error) {
	return adapter().Append(dst, records, opts)
}

// Iter yields the user records of an event's records one at a time, so a
// handler over a large batch never holds them all. A corrupt record yields
// a zero Record with its *deagg.CorruptError, and the iteration goes on.
func Iter(records []events.KinesisEventRecord, opts ...deagg.Option) iter.Seq2[Record, error] {
	return adapter().Iter(records, opts)
}
