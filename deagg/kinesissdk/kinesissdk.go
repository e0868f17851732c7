// Package kinesissdk connects package deagg to the AWS SDK for Go v2
// (github.com/aws/aws-sdk-go-v2/service/kinesis): it deaggregates the
// types.Record values of GetRecords, in bulk or streaming, and turns an
// aggregate into a PutRecords entry or a PutRecord input.
package kinesissdk

import (
	"iter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/deagg/internal/adapt"
)

// UserRecord is one user record of a GetRecords record, with the record's
// encryption type. Data aliases the record's data (see package deagg).
type UserRecord struct {
	deagg.UserRecord
	// EncryptionType is the enclosing record's, unchanged.
	EncryptionType types.EncryptionType
}

// ToRecord returns the deagg view of a GetRecords record (nil pointers read
// as empty).
func ToRecord(r *types.Record) deagg.Record {
	return deagg.Record{
		Data:                        r.Data,
		PartitionKey:                aws.ToString(r.PartitionKey),
		SequenceNumber:              aws.ToString(r.SequenceNumber),
		ApproximateArrivalTimestamp: aws.ToTime(r.ApproximateArrivalTimestamp),
	}
}

func wrap(r *types.Record, u deagg.UserRecord) UserRecord {
	return UserRecord{UserRecord: u, EncryptionType: r.EncryptionType}
}

func adapter() adapt.Adapter[types.Record, UserRecord] {
	return adapt.Adapter[types.Record, UserRecord]{Record: ToRecord, Wrap: wrap}
}

// Deaggregate returns the user records of records, in order. Corrupt
// records give *deagg.CorruptError values, joined; the user records of every
// other record are still returned.
func Deaggregate(records []types.Record, opts ...deagg.Option) ([]UserRecord, error) {
	return adapter().Append(nil, records, opts)
}

// AppendUserRecords is Deaggregate appending to dst (pass dst[:0] to reuse
// it).
func AppendUserRecords(dst []UserRecord, records []types.Record, opts ...deagg.Option) ([]UserRecord, error) {
	return adapter().Append(dst, records, opts)
}

// Iter yields the user records of records one at a time. A corrupt record
// yields a zero UserRecord with its *deagg.CorruptError, and the iteration
// goes on.
func Iter(records []types.Record, opts ...deagg.Option) iter.Seq2[UserRecord, error] {
	return adapter().Iter(records, opts)
}

// PutRecordsRequestEntry returns the PutRecords entry that writes agg: its
// data, partition key and explicit hash key.
func PutRecordsRequestEntry(agg *deagg.AggregatedRecord) types.PutRecordsRequestEntry {
	return types.PutRecordsRequestEntry{
		Data:            agg.Data,
		PartitionKey:    aws.String(agg.PartitionKey),
		ExplicitHashKey: aws.String(agg.ExplicitHashKey),
	}
}

// PutRecordInput returns the PutRecord input that writes agg to the stream
// named streamName (set StreamARN on the result instead, if you prefer).
func PutRecordInput(streamName string, agg *deagg.AggregatedRecord) *kinesis.PutRecordInput {
	in := &kinesis.PutRecordInput{
		Data:            agg.Data,
		PartitionKey:    aws.String(agg.PartitionKey),
		ExplicitHashKey: aws.String(agg.ExplicitHashKey),
	}
	if streamName != "" {
		in.StreamName = aws.String(streamName)
	}
	return in
}
