package deagg

import (
	"errors"
	"fmt"
	"time"
)

// Magic is the 4-byte prefix of every KPL aggregate (F3 89 9A C2).
const Magic = "\xf3\x89\x9a\xc2"

// Record is one Kinesis record as a consumer reads it (GetRecords, the KCL,
// a Lambda event): the input of deaggregation.
type Record struct {
	// Data is the record's data: an aggregate or a plain record.
	Data []byte
	// PartitionKey is the Kinesis record's own partition key. For an
	// aggregate it is the producer's choice ("a" for the KPL) and is not
	// copied to the user records, which carry their own.
	PartitionKey string
	// SequenceNumber is the Kinesis record's sequence number, copied to every
	// user record.
	SequenceNumber string
	// ApproximateArrivalTimestamp is copied to every user record.
	ApproximateArrivalTimestamp time.Time
}

// UserRecord is one record as the producer wrote it: an entry of an aggregate,
// or a whole Kinesis record that is not an aggregate (Aggregated false).
type UserRecord struct {
	// PartitionKey is the user record's partition key (the Kinesis record's
	// own for a record that is not an aggregate).
	PartitionKey string
	// ExplicitHashKey is the user record's explicit hash key (a decimal
	// integer as the producer wrote it) when HasExplicitHashKey is true.
	ExplicitHashKey string
	// HasExplicitHashKey reports whether the record has an explicit hash key.
	// It is false for records without an explicit_hash_key_index and for
	// records that are not aggregates.
	HasExplicitHashKey bool
	// Aggregated reports whether the record came out of an aggregate. When it
	// is false, SubSequenceNumber is meaningless (the record has none).
	Aggregated bool
	// SubSequenceNumber is the record's position (0-based) in its aggregate.
	SubSequenceNumber uint64
	// Data is the user record's data: a sub-slice of the input Record.Data,
	// not a copy (see the package doc on aliasing).
	Data []byte
	// SequenceNumber is the enclosing Kinesis record's sequence number.
	SequenceNumber string
	// ApproximateArrivalTimestamp is the enclosing Kinesis record's arrival time.
	ApproximateArrivalTimestamp time.Time
}

// ErrCorrupt is matched (errors.Is) by every [*CorruptError]: a record with
// a valid magic and MD5 whose protobuf is broken.
var ErrCorrupt = errors.New("corrupt KPL aggregated record")

// CorruptError reports a record whose magic and MD5 are valid but whose
// protobuf is not a valid AggregatedRecord. No user record of it is returned;
// Raw is the whole record, to pass through or dead-letter.
type CorruptError struct {
	// SequenceNumber is the Kinesis record's sequence number.
	SequenceNumber string
	// Reason names the problem, e.g. "record 2: partition_key_index 2 out of
	// range (partition_key_table has 2 entries)".
	Reason string
	// Raw is the record as it was given, unchanged.
	Raw Record
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("deagg: sequence number %s: %v: %s", e.SequenceNumber, ErrCorrupt, e.Reason)
}

// Unwrap returns [ErrCorrupt].
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// CorruptRecords returns every [*CorruptError] in err, in order: err may be
// one, or several joined (errors.Join) as [AppendUserRecords] returns them.
func CorruptRecords(err error) []*CorruptError {
	var out []*CorruptError
	var walk func(error)
	walk = func(err error) {
		var ce *CorruptError
		switch e := err.(type) {
		case nil:
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		default:
			if errors.As(err, &ce) {
				out = append(out, ce)
			}
		}
	}
	walk(err)
	return out
}

// Option changes how records are deaggregated.
type Option func(*options)

type options struct {
	passThroughCorrupt bool
}

// PassThroughCorrupt makes a corrupt record (valid magic and MD5, broken
// protobuf) pass through unchanged as one user record, as the KCL does for
// malformed protobuf, instead of returning a [*CorruptError].
func PassThroughCorrupt() Option {
	return func(o *options) { o.passThroughCorrupt = true }
}

func newOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	return o
}
