package producer

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrClosed is returned by Put after Close started, and is the cause of
	// records still buffered when Close's context ended.
	ErrClosed = errors.New("producer: closed")
	// ErrExpired is the cause of a record still not delivered RecordTTL
	// after it was Put; the last attempt's error is wrapped with it.
	ErrExpired = errors.New("producer: record TTL expired")
	// ErrInvalidRecord is returned by Put for a record Kinesis would reject:
	// a partition key that is not 1 to 256 bytes of UTF-8, an explicit
	// hash key that is not a decimal integer in [0, 2^128-1], or data plus
	// partition key over 1 MiB.
	ErrInvalidRecord = errors.New("producer: invalid record")
	// ErrMisrouted is matched by the Attempt.Err of an aggregate that Kinesis
	// stored on a shard not known to hold all its user records (a KCL
	// consumer of that shard may drop them), so they were sent again: they
	// may be read twice. It is also the cause, wrapped with ErrExpired, of
	// such records whose TTL was over.
	ErrMisrouted = errors.New("producer: aggregate landed on a shard that does not hold all its user records")
)

// EntryError is a PutRecords entry's failure as Kinesis reported it.
type EntryError struct {
	// Code is the ErrorCode, e.g. "ProvisionedThroughputExceededException"
	// or "InternalFailure".
	Code string
	// Message is the ErrorMessage.
	Message string
}

// Error implements error.
func (e *EntryError) Error() string {
	return fmt.Sprintf("PutRecords entry failed: %s: %s", e.Code, e.Message)
}

// FailedRecord is a user record that could not be delivered. It is an error:
// Unwrap gives the cause (ErrExpired wrapping the last attempt's error,
// ErrClosed, or a permanent API error), so errors.Is and errors.As see through
// it.
type FailedRecord struct {
	// PartitionKey, ExplicitHashKey ("" for none) and Data are the record
	// as it was Put.
	PartitionKey    string
	ExplicitHashKey string
	Data            []byte
	// Attempts is the number of PutRecords requests that carried it (the
	// SDK's retryer is off for PutRecords, so none is hidden).
	Attempts int
	// Err is the cause.
	Err error
	// Tag is the record's Record.Tag (nil for Put and PutWithHashKey).
	Tag any
}

// Error implements error.
func (f *FailedRecord) Error() string {
	return fmt.Sprintf("producer: record with partition key %q (%d bytes) not delivered after %d attempts: %v",
		f.PartitionKey, len(f.Data), f.Attempts, f.Err)
}

// Unwrap returns the cause.
func (f *FailedRecord) Unwrap() error { return f.Err }

// CloseError is returned by Close when any record Put during the producer's
// life could not be delivered.
type CloseError struct {
	// Failed counts every failed record, including those given to
	// Config.OnFailure.
	Failed int64
	// Records are the failed records when Config.OnFailure is nil (it has
	// the others), in the order they failed.
	Records []*FailedRecord
}

// Error implements error.
func (e *CloseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "producer: %d records not delivered", e.Failed)
	for i, r := range e.Records {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Records)-i)
			break
		}
		fmt.Fprintf(&b, "; %v", r)
	}
	return b.String()
}

// Unwrap returns the failed records, so errors.As finds a *FailedRecord and
// errors.Is finds their causes.
func (e *CloseError) Unwrap() []error {
	errs := make([]error, len(e.Records))
	for i, r := range e.Records {
		errs[i] = r
	}
	return errs
}
