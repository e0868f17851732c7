// Package producer puts records into an Amazon Kinesis data stream the way
// the Kinesis Producer Library (KPL) does, in pure Go on the AWS SDK for Go v2:
// user records are buffered, packed into KPL aggregates per destination shard
// (readable by the KCL and by kclgo's deagg), and sent in PutRecords batches
// within the service limits.
//
// # Life of a record
//
// [Producer.Put] (or [Producer.PutWithHashKey]) validates a user record,
// copies its data and takes room in a bounded buffer; when the buffer is
// full, Put blocks until room frees up or its context ends. The record is
// routed by its hash key (its explicit hash key, or the MD5 of its partition
// key) to the open shard whose hash-key range holds it, per the shard map read
// with ListShards. With aggregation on (the default) it joins that shard's
// current aggregate, so an aggregate never spans shards: the KCL drops user
// records that lie outside the hash-key range of the shard an aggregate landed
// on, which is the data-loss trap of aggregating outside the KPL. An aggregate
// holding a single user record is sent as that plain record, as the KPL does.
//
// A shard's records are sent when the oldest has waited [Config.Linger]
// (500 ms by default), when enough is ready to fill a PutRecords call (500
// entries or 5 MiB), on [Producer.Flush], and on [Producer.Close]. At most one
// PutRecords call per shard is in flight, so records of one partition key
// arrive in the order they were Put as long as no entry had to be retried.
//
// # Failures
//
// Entries that PutRecords rejects and calls that fail are retried with
// exponential backoff and jitter until [Config.RecordTTL] after the record was
// Put. What slows down what depends on the error:
//
//   - Throttling — an entry's ProvisionedThroughputExceededException, or a
//     call failing with ProvisionedThroughputExceededException,
//     ThrottlingException, LimitExceededException or KMSThrottlingException —
//     says the shard is over its limits: the whole shard waits (its backoff
//     grows with each consecutive throttled call) before any of its records
//     is sent again.
//   - Any other failure — an entry's InternalFailure, a 5xx, a reset
//     connection, a timeout — retries only the entries concerned, each after
//     its own backoff, which grows with that entry's failures; the rest of the
//     shard is sent on as usual. So a few failing entries cost their own
//     retries, not the shard's throughput.
//   - Permanent errors (a missing stream, access denied, validation, KMS
//     key problems) fail the records at once.
//
// The producer owns the retries of PutRecords: it turns the SDK client's
// retryer off for those calls, so every request is an attempt it counts.
//
// A record that finally fails is
// reported as a [*FailedRecord] (its partition key, explicit hash key, data,
// tag and the cause) to [Config.OnFailure], and counted in the error
// [Producer.Close] returns; nothing accepted by Put is dropped without such a
// report. [Producer.Flush] returns only after those reports were made. Delivery
// is at least once: a retried call whose first attempt did reach Kinesis, or
// an aggregate re-sent after landing on an unexpected shard, may be read twice.
//
// # Results per record
//
// [Producer.PutRecord] takes a [Record] with a Tag of the caller's; with
// [Config.OnResult] set, every record's [Result] comes back with that tag:
// delivered (shard, sequence and sub-sequence number) or failed (the cause),
// with every attempt. Without OnResult nothing of this is built.
//
// A record that lands on a shard other than the one predicted, a shard the
// producer's map does not know (the stream was resharded), makes the
// producer re-read the shard map; landing on a shard the map already knows
// to be closed does not. An aggregate that landed elsewhere counts as
// delivered if the shard it landed on covers every user record in it; otherwise
// its user records are routed again with the new map and re-sent, so that a
// KCL consumer, which would drop them, still gets them.
//
// # Observing
//
// [Producer.Stats] returns counters at any time; [Config.OnBatch] is called
// after every PutRecords call, a hook for a metrics library.
package producer
