package kcl

import (
	"context"
	"time"
)

// RecordProcessor processes the records of one shard. The daemon starts a
// separate child process for every shard, so a RecordProcessor is used for a
// single shard and its methods are never called concurrently.
//
// Returning an error (or panicking) from any method means the action failed:
// see the package documentation for what Run does then.
type RecordProcessor interface {
	// Initialize is called once, before any records.
	Initialize(ctx context.Context, in InitializeInput) error
	// ProcessRecords is called for each batch of records, in order.
	ProcessRecords(ctx context.Context, in ProcessRecordsInput) error
	// LeaseLost is called when another worker took the shard's lease. The
	// processor cannot checkpoint any more; it should stop quickly.
	LeaseLost(ctx context.Context, in LeaseLostInput) error
	// ShardEnded is called when every record of a closed shard was
	// delivered. The processor must checkpoint (in.Checkpointer.Checkpoint);
	// if it does not, Run does it after ShardEnded returns nil.
	ShardEnded(ctx context.Context, in ShardEndedInput) error
	// ShutdownRequested is called when the worker shuts down gracefully:
	// the last chance to checkpoint before the lease is released.
	ShutdownRequested(ctx context.Context, in ShutdownRequestedInput) error
}

// Checkpointer records the shard's progress in the lease table (under [Run],
// through the daemon, which writes it). After a restart or a lease move, processing resumes
// after the last checkpoint: records after it are delivered again (at least
// once), records before it never are. So checkpoint a position only once
// every record up to it is finished; a checkpoint never moves backwards.
//
// A Checkpointer is valid only during the processor method it was passed to;
// afterwards, and after the lease is lost, it returns
// [ErrCheckpointNotAllowed]. It is safe for concurrent use; calls are
// serialized, and the method's answer to the daemon waits for a checkpoint
// still in flight.
//
// Under Run a checkpoint is a round trip to the daemon, which writes DynamoDB
// before it replies; the context bounds the waits between retries, not a
// round trip under way (abandoning one would break the protocol).
type Checkpointer interface {
	// Checkpoint checkpoints after the last record delivered to the
	// processor so far (at shard end: the end of the shard).
	Checkpoint(ctx context.Context) error
	// CheckpointAt checkpoints at a record: its sequence number and
	// sub-sequence number (0 for a plain record).
	CheckpointAt(ctx context.Context, sequenceNumber string, subSequenceNumber int64) error
}

// InitializeInput describes the shard a processor is starting on.
type InitializeInput struct {
	// ShardID is the shard's id, e.g. "shardId-000000000000".
	ShardID string
	// SequenceNumber is the lease's checkpoint: a sequence number or a
	// sentinel such as "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP" or
	// "SHARD_END". Empty when the daemon sent none.
	SequenceNumber string
	// SubSequenceNumber is the checkpoint's sub-sequence number.
	SubSequenceNumber int64
}

// ProcessRecordsInput is one batch of records.
type ProcessRecordsInput struct {
	// Records is the batch, in stream order. It may be empty if the daemon
	// is configured with callProcessRecordsEvenForEmptyRecordList. The slice
	// and the records' Data are reused for the next batch: they are valid
	// only until ProcessRecords returns; copy what you keep.
	Records []Record
	// MillisBehindLatest is how far the batch is behind the tip of the
	// stream, in milliseconds; -1 when the daemon did not say.
	MillisBehindLatest int64
	// Checkpointer checkpoints the shard's progress; valid until
	// ProcessRecords returns.
	Checkpointer Checkpointer
}

// Record is one Kinesis record. The daemon has already split KPL
// aggregates: the user records of one aggregate share a SequenceNumber and
// differ in SubSequenceNumber.
type Record struct {
	// Data is the payload. It is valid only until ProcessRecords returns:
	// copy it (bytes.Clone) to keep it longer.
	Data []byte
	// PartitionKey is the record's partition key.
	PartitionKey string
	// SequenceNumber is the Kinesis sequence number, a decimal string too
	// long for an int64.
	SequenceNumber string
	// SubSequenceNumber is the record's index within its KPL aggregate, 0
	// for a plain record.
	SubSequenceNumber int64
	// ApproximateArrivalTimestamp is when Kinesis accepted the record, with
	// millisecond precision; the zero Time when the daemon did not say.
	ApproximateArrivalTimestamp time.Time
}

// LeaseLostInput is passed to LeaseLost. It has no Checkpointer: the lease is
// gone, and so is the right to checkpoint.
type LeaseLostInput struct{}

// ShardEndedInput is passed to ShardEnded.
type ShardEndedInput struct {
	// Checkpointer must be used to checkpoint the end of the shard:
	// Checkpoint(ctx) with no position. Valid until ShardEnded returns.
	Checkpointer Checkpointer
}

// ShutdownRequestedInput is passed to ShutdownRequested.
type ShutdownRequestedInput struct {
	// Checkpointer checkpoints before the lease is released; valid until
	// ShutdownRequested returns.
	Checkpointer Checkpointer
}
