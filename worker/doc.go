// Package worker runs kclgo record processors natively, without Amazon's
// Java MultiLangDaemon: one Go process reads the stream's shards itself and
// shares the Java KCL's own DynamoDB lease table, so an application can move
// between the two runtimes, or run both at once during a migration, without
// losing a checkpoint.
//
// The processor is the same [kcl.RecordProcessor] (or [kcl.PerRecord]) that
// runs under the daemon with [kcl.Run]; its Checkpointer has the same
// semantics and typed errors. One binary can do both, chosen in main (see
// samples/perrecord).
//
// # The lease table
//
// The worker speaks the Java KCL 2.x lease protocol (DynamoDBLeaseRefresher,
// DynamoDBLeaseTaker, DynamoDBLeaseRenewer, HierarchicalShardSyncer,
// ShutdownTask):
//
//   - The table is named after Config.ApplicationName; it is created if
//     missing with the KCL's key schema (hash key leaseKey, a string) and
//     on-demand billing. A row is one shard's lease: leaseKey, leaseOwner,
//     leaseCounter, ownerSwitchesSinceCheckpoint, checkpoint,
//     checkpointSubSequenceNumber, parentShardId (a string set),
//     childShardIds, startingHashKey, endingHashKey.
//   - Every write is a conditional, attribute-level write with the legacy
//     Expected and AttributeUpdates parameters the Java KCL uses: create
//     only if absent, renew, take, checkpoint and release conditional on
//     the leaseCounter this worker holds. Attributes the worker does not
//     know (a KCL 3.x worker's throughputKBps, anyone's additions) survive.
//     Rows whose entityType is set and is not LEASE (KCL 3.5's worker
//     metrics and coordinator state) are skipped.
//   - Leases are renewed every FailoverTime/3. A lease is expired when its
//     counter has not changed for FailoverTime on this worker's monotonic
//     clock between its own scans; no wall clock is compared across
//     workers. The taker takes leases not renewed for 3 × FailoverTime
//     first (within MaxLeasesForWorker), then expired ones up to the fair
//     share ceil(leases / workers), and otherwise steals at most
//     MaxLeasesToStealAtOneTime from the most loaded worker.
//   - A lease in a KCL 3.x graceful hand-off (checkpointOwner set) is
//     neither taken nor started.
//   - A checkpoint is a conditional write on the counter the worker holds.
//     A failed condition means the lease was lost: the Checkpointer returns
//     a *kcl.CheckpointError matching kcl.ErrShutdown, the processor gets
//     LeaseLost, and nothing is written over the new owner's progress. A
//     worker paused past the failover time (a "zombie") is fenced this way,
//     and also drops its leases without a write when it finds its last
//     renewal older than the failover time.
//
// # Records
//
// Each held lease is read on its own goroutine, by polling or, with
// Config.RetrievalMode FANOUT (the default when Config.ConsumerName or
// ConsumerARN is set), by enhanced fan-out (below). Polling uses a shard iterator
// AT_SEQUENCE_NUMBER of the checkpoint (TRIM_HORIZON, LATEST and
// AT_TIMESTAMP for the sentinels), GetRecords every IdleTimeBetweenReads
// with back-off and jitter on throttling, and a fresh iterator after
// ExpiredIteratorException. KPL aggregates are split with package deagg;
// user records at or below the checkpoint's (sequence, sub-sequence) are
// skipped, so a restart inside an aggregate resumes at its next user record.
// As the Java KCL does, user records of an aggregate whose hash key (explicit,
// or the MD5 of the partition key) lies outside the shard's hash range are
// dropped: after a split the KPL may have put them into the parent, and the
// child that owns the range delivers them. A record that looks aggregated
// but is corrupt is delivered whole.
//
// # Enhanced fan-out
//
// With FANOUT, Run first finds the consumer: Config.ConsumerARN as is, or
// the consumer named Config.ConsumerName on the stream, registered with
// RegisterStreamConsumer if absent and reused if present (another worker
// may register it at the same moment), and waited for until ACTIVE (at
// most 2 minutes), as the Java KCL's FanOutConsumerRegistration. If that
// fails (e.g. the credentials lack kinesis:RegisterStreamConsumer) Run
// returns a *FanOutError naming the operation and the missing permission,
// or, with Config.FanOutFallbackToPolling, polls instead. Run never
// deregisters the consumer; [DeregisterConsumer] does, when you decide.
//
// Each shard then calls SubscribeToShard AT_SEQUENCE_NUMBER of its
// checkpoint (TRIM_HORIZON, LATEST, AT_TIMESTAMP for the sentinels). Every
// time a subscription ends (Kinesis ends each after 5 minutes; a broken
// connection, or 30 s without any event, ends it too) it subscribes again
// AFTER_SEQUENCE_NUMBER of the last ContinuationSequenceNumber handed to
// the processor, so nothing is skipped or repeated. ResourceInUseException
// (the previous subscription still open), throttling and other failures are
// retried with back-off and jitter. The next event is taken from the stream
// only when ProcessRecords returned (the SDK decodes at most one ahead).
// Each event's records go through the same deaggregation and resume filter
// as polling, with its MillisBehindLatest; a closed shard's last event (no
// ContinuationSequenceNumber, ChildShards) starts the lineage steps below.
//
// Kinesis serves SubscribeToShard over HTTP/2 only, and the SDK's client
// speaks HTTP/2 to it (over TLS). Against an http:// endpoint (a local
// emulator or proxy) the SDK speaks HTTP/1.1, over which the Go SDK v2
// (1.48, smithy-go 1.28) loses about half of the subscriptions a moment
// after they start ("use of closed network connection"); the worker
// subscribes again without a gap, but give such a client an HTTP/2
// transport (http.Protocols with SetUnencryptedHTTP2) when the endpoint
// speaks h2c, as samples/perrecord's -kinesis-h2c does.
//
// # Shard lineage
//
// A child shard is processed only when every parent lease is at SHARD_END or
// gone (both parents of a merge). At a shard's end (GetRecords returns no next
// iterator, or with fan-out the last event) the worker creates the child leases from ChildShards (or, if the
// endpoint sent none, from ListShards), writes childShardIds on the parent,
// calls ShardEnded and checkpoints SHARD_END if the processor did not. The
// worker also runs shard sync itself every ShardSyncInterval (a Java fleet
// may elect it leader and then skip its own).
//
// # Shutdown and failures
//
// Cancelling Run's context calls ShutdownRequested on every processor, then
// releases every lease (the owner removed, the counter bumped), so other
// workers take them at once, then returns. A processor that fails an action
// (an error or a panic) is retried by Config.ProcessorRetry; if it keeps
// failing, its shard's lease is released unacknowledged and the error is
// returned by Run at the end (the other shards go on).
//
// # Differences from the Java KCL
//
//   - The taker scans every FailoverTime/2, not every 2 × (failover + 25 ms),
//     so a dead worker's leases are taken within about 2 × FailoverTime.
//   - Finished (SHARD_END) leases are kept and renewed but not deleted: the
//     Java KCL's lease cleanup deletes them later, and a Java worker sharing
//     the table still does.
//   - Single-stream mode only; no CloudWatch metrics.
//   - RetrievalMode defaults to POLLING unless a consumer is named (the
//     Java KCL defaults to FANOUT with applicationName as the consumer).
package worker
