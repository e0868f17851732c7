package protocol

// Checkpoint sentinels: the values a lease's checkpoint holds instead of a
// sequence number (the Java KCL's SentinelCheckpoint). The daemon passes
// them in initialize's sequenceNumber; the native worker reads and writes
// them in the lease table.
const (
	// SentinelTrimHorizon: start at the oldest record still in the shard.
	SentinelTrimHorizon = "TRIM_HORIZON"
	// SentinelLatest: start after the newest record.
	SentinelLatest = "LATEST"
	// SentinelAtTimestamp: start at a timestamp given by configuration.
	SentinelAtTimestamp = "AT_TIMESTAMP"
	// SentinelShardEnd: every record of the closed shard was processed.
	SentinelShardEnd = "SHARD_END"
)

// Reasons carried by the KCL 1.x [Shutdown] message.
const (
	// ReasonTerminate means the shard ended: the processor must checkpoint.
	ReasonTerminate = "TERMINATE"
	// ReasonZombie means the lease was lost: checkpointing will fail.
	ReasonZombie = "ZOMBIE"
)

// Reasons a KCL 2.0.x daemon wrote in the shutdown message instead of the
// 1.x [ReasonTerminate] and [ReasonZombie].
const (
	// ReasonShardEnd is KCL 2.0.x's spelling of [ReasonTerminate].
	ReasonShardEnd = "SHARD_END"
	// ReasonLeaseLost is KCL 2.0.x's spelling of [ReasonZombie].
	ReasonLeaseLost = "LEASE_LOST"
)

// Simple names of the Java exceptions a checkpoint reply's error field
// carries (the KCL's checkpoint exceptions).
const (
	// ExceptionThrottling: DynamoDB throttled the checkpoint write.
	ExceptionThrottling = "ThrottlingException"
	// ExceptionShutdown: the worker no longer holds the lease.
	ExceptionShutdown = "ShutdownException"
	// ExceptionInvalidState: no checkpoint is possible now.
	ExceptionInvalidState = "InvalidStateException"
	// ExceptionDependency: the daemon could not reach DynamoDB.
	ExceptionDependency = "KinesisClientLibDependencyException"
	// ExceptionIllegalArgument: the position is not valid for a checkpoint.
	ExceptionIllegalArgument = "IllegalArgumentException"
)
