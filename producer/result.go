package producer

import "time"

// Record is a user record for [Producer.PutRecord].
type Record struct {
	// PartitionKey is required: 1 to 256 bytes of UTF-8. Unless
	// ExplicitHashKey is set, its MD5 decides the shard.
	PartitionKey string
	// ExplicitHashKey is optional ("" for none): a decimal integer in
	// [0, 2^128-1] that decides the shard instead of the partition key.
	ExplicitHashKey string
	// Data is copied by PutRecord.
	Data []byte
	// Tag is any value of the caller's, given back untouched in the record's
	// Result and FailedRecord, so the caller knows which record they are
	// about (an id, a message to acknowledge, a channel). Nil is fine.
	Tag any
}

// Result is what became of one user record: delivered or failed. When
// Config.OnResult is set, it receives one Result for every record Put.
type Result struct {
	// Tag is Record.Tag (nil for records given to Put or PutWithHashKey).
	Tag any
	// PartitionKey and ExplicitHashKey are the record's.
	PartitionKey, ExplicitHashKey string
	// ShardID and SequenceNumber say where Kinesis stored the record, when
	// Err is nil. For a record sent inside a KPL aggregate (Aggregated),
	// they are the aggregate's, and SubSequenceNumber is the record's index
	// in it: the sequence and sub-sequence numbers a KCL consumer sees.
	ShardID, SequenceNumber string
	SubSequenceNumber       int64
	Aggregated              bool
	// Attempts lists every PutRecords request that carried the record, in
	// order. The producer turns off the SDK's own retries of PutRecords, so
	// each request is one attempt here.
	Attempts []Attempt
	// Err is nil when the record was delivered; otherwise it is the cause,
	// as in FailedRecord.Err.
	Err error
}

// Attempt is one PutRecords request that carried a user record.
type Attempt struct {
	// Start is when the request started; Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// ShardID is the shard the record was sent for (the one its hash key
	// maps to in the producer's shard map).
	ShardID string
	// Err is nil when Kinesis accepted the entry carrying the record; else
	// the call's error or an *EntryError (or, for an aggregate that landed
	// on a shard not holding all its records, the reason it was sent again).
	Err error
}
