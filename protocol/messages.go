package protocol

// Action names, as they appear in the "action" field of a message.
const (
	ActionInitialize        = "initialize"
	ActionProcessRecords    = "processRecords"
	ActionLeaseLost         = "leaseLost"
	ActionShardEnded        = "shardEnded"
	ActionShutdownRequested = "shutdownRequested"
	ActionShutdown          = "shutdown" // KCL 1.x only
	ActionCheckpoint        = "checkpoint"
	ActionStatus            = "status"
	ActionRecord            = "record" // the action of each record inside processRecords
)

// Message is one line of the protocol. The set of implementations is closed:
// the types of this package, with [Unknown] standing for any action this
// package does not know.
type Message interface {
	// Action returns the message's "action" field.
	Action() string
	isMessage()
}

// Initialize is the first message the daemon sends a child: the shard it
// processes and the lease's current checkpoint.
type Initialize struct {
	// ShardID is the shard's id, e.g. "shardId-000000000000".
	ShardID string
	// SequenceNumber is the lease's checkpoint: a decimal string or a sentinel
	// such as [SentinelTrimHorizon], [SentinelLatest] or
	// [SentinelAtTimestamp]. Nil when the daemon sent null.
	SequenceNumber *string
	// SubSequenceNumber is the checkpoint's sub-sequence number, nil when the
	// daemon sent null.
	SubSequenceNumber *int64
}

// ProcessRecords delivers a batch of records.
type ProcessRecords struct {
	// Records is the batch; it may be empty when the daemon is configured with
	// callProcessRecordsEvenForEmptyRecordList.
	Records []Record
	// MillisBehindLatest is how far the batch is behind the tip of the
	// stream; nil when the daemon sent null.
	MillisBehindLatest *int64
}

// Record is one Kinesis record of a [ProcessRecords] batch. The daemon has
// already split KPL aggregates: records of one aggregate share a
// SequenceNumber and differ in SubSequenceNumber.
type Record struct {
	// Data is the payload, decoded from base64. A Record returned by a
	// [Decoder] aliases the decoder's buffers: Data is valid only until the
	// Decoder decodes the next [ProcessRecords]. Copy it to keep it.
	Data []byte
	// PartitionKey is the record's partition key. It and SequenceNumber
	// are ordinary strings, safe to keep.
	PartitionKey string
	// SequenceNumber is the record's sequence number, a decimal string that
	// does not fit in 64 bits (an emulator may use short ones like "1").
	SequenceNumber string
	// SubSequenceNumber is the record's index within a KPL aggregate, 0 for a
	// plain record.
	SubSequenceNumber int64
	// ApproximateArrivalTimestamp is the arrival time in epoch milliseconds,
	// 0 when the daemon sent null or nothing.
	ApproximateArrivalTimestamp int64
}

// LeaseLost tells the child that its lease is gone (KCL 2.x and 3.x). No
// checkpoint is possible.
type LeaseLost struct{}

// ShardEnded tells the child that the shard has ended (KCL 2.x and 3.x). The
// child must checkpoint before it answers, or the shard's children are never
// processed.
type ShardEnded struct{}

// ShutdownRequested tells the child that the worker is shutting down
// gracefully; it may checkpoint before it answers.
type ShutdownRequested struct{}

// Shutdown is the KCL 1.x end of a processor: Reason is [ReasonTerminate]
// (the shard ended) or [ReasonZombie] (the lease was lost).
type Shutdown struct {
	// Reason is [ReasonTerminate] or [ReasonZombie] (KCL 2.0.x wrote
	// [ReasonShardEnd] and [ReasonLeaseLost]).
	Reason string
}

// Checkpoint is both the child's checkpoint request and the daemon's reply to
// it.
type Checkpoint struct {
	// SequenceNumber is the position to checkpoint at; nil means "after the
	// last record delivered".
	SequenceNumber *string
	// SubSequenceNumber is the sub-sequence number within SequenceNumber; nil
	// means 0 when SequenceNumber is set.
	SubSequenceNumber *int64
	// Error is set on a reply whose checkpoint failed: the simple name of the
	// Java exception, e.g. "ThrottlingException". Empty on success and on a
	// request.
	Error string
}

// Status is the child's answer to an action: the daemon sends the next
// action only after it read a Status whose ResponseFor names the current one.
type Status struct {
	// ResponseFor is the action answered.
	ResponseFor string
}

// Unknown is a message whose action this package does not know, e.g. one
// added by a newer daemon. The run loop acknowledges it with a [Status].
type Unknown struct {
	// Name is the message's action.
	Name string
}

// Action implements [Message].
func (Initialize) Action() string { return ActionInitialize }

// Action implements [Message].
func (ProcessRecords) Action() string { return ActionProcessRecords }

// Action implements [Message].
func (LeaseLost) Action() string { return ActionLeaseLost }

// Action implements [Message].
func (ShardEnded) Action() string { return ActionShardEnded }

// Action implements [Message].
func (ShutdownRequested) Action() string { return ActionShutdownRequested }

// Action implements [Message].
func (Shutdown) Action() string { return ActionShutdown }

// Action implements [Message].
func (Checkpoint) Action() string { return ActionCheckpoint }

// Action implements [Message].
func (Status) Action() string { return ActionStatus }

// Action implements [Message].
func (u Unknown) Action() string { return u.Name }

func (Initialize) isMessage()        {}
func (ProcessRecords) isMessage()    {}
func (LeaseLost) isMessage()         {}
func (ShardEnded) isMessage()        {}
func (ShutdownRequested) isMessage() {}
func (Shutdown) isMessage()          {}
func (Checkpoint) isMessage()        {}
func (Status) isMessage()            {}
func (Unknown) isMessage()           {}
