// Package deagg reads and writes the Kinesis Producer Library (KPL) aggregated
// record format: many user records packed into one Kinesis record.
//
// # Format
//
// An aggregate is the 4-byte magic F3 89 9A C2, a protobuf AggregatedRecord
// (proto2: a partition key table, an explicit hash key table and the records,
// each pointing into the tables by index), and the 16-byte MD5 of the
// protobuf bytes.
//
// # Deaggregation
//
// [Deaggregate], [AppendUserRecords] and [AppendRecord] return user records
// all at once; [Iter] and [IterRecord] yield them one at a time (iter.Seq2),
// so a handler over thousands of records never holds them all.
//
// Every Kinesis record falls in one of three classes, decided exactly as the
// KCL (AggregatorUtil) decides them:
//
//   - Not an aggregate: shorter than the magic, a different magic, 16 or fewer
//     bytes after the magic, or an MD5 mismatch. It passes through unchanged as
//     one [UserRecord] with Aggregated false.
//   - An aggregate: its user records, numbered 0, 1, 2... in SubSequenceNumber,
//     each with the enclosing record's sequence number and arrival time.
//   - Corrupt: magic and MD5 are valid, so the producer meant an aggregate, but
//     the protobuf is truncated, misses a required field, or has an index past
//     its key table. The record yields no user record at all (never part of
//     them, never a made-up key) but a [*CorruptError] that matches
//     [ErrCorrupt] and carries the raw record, so the caller can pass it through
//     or dead-letter it. The [PassThroughCorrupt] option passes it through
//     instead, as the KCL does for malformed protobuf. A corrupt record never
//     stops the other records of the same call.
//
// A record without an explicit_hash_key_index has no explicit hash key
// (HasExplicitHashKey false), even when the table is not empty: proto2
// presence, as in the KCL.
//
// # Aliasing
//
// Deaggregation does not copy data: UserRecord.Data is a sub-slice of the
// input Record.Data (a pass-through record's Data is the input itself), so
// modifying one modifies the other, and a user record keeps the whole input
// buffer alive. Copy Data (bytes.Clone) before changing it, or to keep a few
// small user records without their large input. Data's capacity ends with
// it, so appending to it copies instead of overwriting the next record.
//
// # Cost
//
// The MD5 check reads every byte, and is most of the cost; the protobuf is
// read in place with google.golang.org/protobuf/encoding/protowire. The keys
// of one aggregate share one string allocation, and user records point at
// them, so a call allocates a constant number of times, never per user
// record; [AppendUserRecords] with a reused dst (dst[:0]) allocates only for
// the keys. The benchmarks (BenchmarkVsMD5) compare with crypto/md5 alone
// over the same bytes.
//
// # Aggregation
//
// [Aggregator] packs user records into aggregates that always fit one
// PutRecord, counted as Kinesis counts it (data plus the aggregate's own
// partition key). It either returns a full aggregate from [Aggregator.Add] or
// hands it to [Aggregator.OnComplete]; [Aggregator.Flush] returns the rest.
//
// Adapters for AWS Lambda events and the AWS SDK for Go v2 live in the
// subpackages lambdaevent and kinesissdk, so this package depends on the
// standard library and google.golang.org/protobuf alone.
package deagg
