package deagg

import (
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"

	"github.com/kclgo/kclgo/internal/kinesislimits"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	// MaxRecordSize is the default [Aggregator.MaxSize]: 1 MiB, the size
	// limit of one Kinesis record as PutRecord counts it (data plus partition
	// key).
	MaxRecordSize = kinesislimits.MaxRecordSize
	// KPLMaxSize is the KPL's default aggregation_max_size (51200 bytes), for
	// [Aggregator.MaxSize].
	KPLMaxSize = 51200
	// MaxPartitionKeyLen is the longest partition key Kinesis accepts, in
	// UTF-8 bytes.
	MaxPartitionKeyLen = kinesislimits.MaxPartitionKeyLen
	// AggregatePartitionKey is the partition key of every aggregate, as the
	// KPL writes it; the aggregate's explicit hash key decides its shard.
	AggregatePartitionKey = "a"

	// overhead is the size of an aggregate around its protobuf body.
	overhead = len(Magic) + md5.Size
)

// Errors returned by [Aggregator.Add] for a user record it cannot take; they
// are wrapped with details, so test with errors.Is.
var (
	// ErrInvalidPartitionKey: empty, longer than MaxPartitionKeyLen bytes,
	// or not valid UTF-8.
	ErrInvalidPartitionKey = kinesislimits.ErrPartitionKey
	// ErrInvalidExplicitHashKey: not a decimal integer in [0, 2^128-1]
	// written as Kinesis accepts it (no sign, no leading zero).
	ErrInvalidExplicitHashKey = kinesislimits.ErrHashKey
	// ErrRecordTooLarge: the user record would not fit MaxSize even alone
	// in an aggregate.
	ErrRecordTooLarge = errors.New("user record too large to aggregate")
)

// Entry is a user record to aggregate.
type Entry struct {
	// PartitionKey is required: 1 to 256 bytes of UTF-8.
	PartitionKey string
	// ExplicitHashKey is optional ("" for none): a decimal integer in
	// [0, 2^128-1].
	ExplicitHashKey string
	// Data is copied by Add: the caller may reuse it when Add returns.
	Data []byte
}

// AggregatedRecord is a complete aggregate: the arguments of one PutRecord
// (or one PutRecords entry).
type AggregatedRecord struct {
	// PartitionKey is AggregatePartitionKey, as the KPL sends it.
	PartitionKey string
	// ExplicitHashKey is the first user record's hash key: its explicit hash
	// key, or else the MD5 of its partition key as a decimal 128-bit integer.
	// So the aggregate lands on the shard its first user record would have.
	ExplicitHashKey string
	// Data is the aggregate: magic, protobuf, MD5. It belongs to the caller.
	Data []byte
	// UserRecords is the number of user records in Data.
	UserRecords int
}

// Size is what Kinesis counts against its record size limit: the data plus
// the partition key in UTF-8 bytes.
func (r *AggregatedRecord) Size() int { return len(r.Data) + len(r.PartitionKey) }

// Aggregator packs user records into aggregates. The zero value is ready to
// use with the defaults; set the fields before the first Add and do not
// change them after. An Aggregator is not safe for concurrent use.
//
// Both styles of aws_kinesis_agg are offered: without OnComplete, Add returns
// each aggregate as it fills; with OnComplete, Add hands it to the callback.
// In both, Flush returns the last, partly filled one.
//
// Unlike the KPL, which sends a lone user record un-aggregated, every
// AggregatedRecord is an aggregate, even of one record: so a consumer gets
// its explicit hash key back, and deaggregation is the exact inverse.
type Aggregator struct {
	// MaxSize bounds the Size of every aggregate (data plus partition key,
	// as Kinesis counts it). Zero or negative means MaxRecordSize (1 MiB);
	// KPLMaxSize is the KPL's default.
	MaxSize int
	// MaxCount bounds the number of user records per aggregate. Zero or
	// negative means no bound.
	MaxCount int
	// OnComplete, when set, receives every aggregate that Add completes, and
	// Add then returns nil. Flush never calls it.
	OnComplete func(*AggregatedRecord)

	pkIndex  map[string]uint64
	ehkIndex map[string]uint64
	pks      []string // partition_key_table, in index order
	ehks     []string // explicit_hash_key_table, in index order
	records  []byte   // the encoded records field entries
	count    int      // user records so far
	bodySize int      // size of the protobuf body so far
	firstPK  string   // first user record's partition key
	firstEHK string   // first user record's explicit hash key, or ""
}

// Add adds a user record. When it does not fit the current aggregate, the
// current one is complete: Add returns it (or passes it to OnComplete and
// returns nil) and starts the next aggregate with this record. Add returns
// nil while the current aggregate still has room.
//
// An invalid record (see ErrInvalidPartitionKey, ErrInvalidExplicitHashKey,
// ErrRecordTooLarge) is not added and leaves the aggregator unchanged.
func (a *Aggregator) Add(e Entry) (*AggregatedRecord, error) {
	if err := validate(e); err != nil {
		return nil, err
	}
	maxSize := a.maxSize()
	if alone := overhead + len(AggregatePartitionKey) + newEntrySize(0, 0, e); alone > maxSize {
		return nil, fmt.Errorf("deagg: aggregate: partition key %q: %w: %d bytes alone, limit %d",
			e.PartitionKey, ErrRecordTooLarge, alone, maxSize)
	}
	var done *AggregatedRecord
	if a.count > 0 {
		full := a.MaxCount > 0 && a.count >= a.MaxCount
		if full || overhead+len(AggregatePartitionKey)+a.bodySize+a.growth(e) > maxSize {
			done = a.complete()
			if a.OnComplete != nil {
				a.OnComplete(done)
				done = nil
			}
		}
	}
	a.add(e)
	return done, nil
}

// Flush returns the current aggregate, complete or not, and starts an empty
// one. It returns nil when there is no user record to flush.
func (a *Aggregator) Flush() *AggregatedRecord {
	if a.count == 0 {
		return nil
	}
	return a.complete()
}

// Len returns the number of user records in the current aggregate.
func (a *Aggregator) Len() int { return a.count }

// Size returns the Size the current aggregate would have if flushed now
// (0 when it is empty).
func (a *Aggregator) Size() int {
	if a.count == 0 {
		return 0
	}
	return overhead + len(AggregatePartitionKey) + a.bodySize
}

func (a *Aggregator) maxSize() int {
	if a.MaxSize <= 0 {
		return MaxRecordSize
	}
	return a.MaxSize
}

// validate checks a user record's keys as Kinesis and the KPL would.
func validate(e Entry) error {
	if !kinesislimits.PartitionKeyOK(e.PartitionKey) {
		return fmt.Errorf("deagg: aggregate: %w", kinesislimits.CheckPartitionKey(e.PartitionKey))
	}
	if e.ExplicitHashKey != "" {
		if err := kinesislimits.CheckHashKey(e.ExplicitHashKey); err != nil {
			return fmt.Errorf("deagg: aggregate: %w", err)
		}
	}
	return nil
}

// keyEntrySize is the size of one key table entry holding key.
func keyEntrySize(key string) int {
	return protowire.SizeTag(fieldPartitionKeyTable) + protowire.SizeBytes(len(key))
}

// recordSize is the size of the Record message of e with the given indexes
// (ehk is ignored when e has no explicit hash key).
func recordSize(pk, ehk uint64, e Entry) int {
	n := protowire.SizeTag(fieldPartitionKeyIndex) + protowire.SizeVarint(pk) +
		protowire.SizeTag(fieldData) + protowire.SizeBytes(len(e.Data))
	if e.ExplicitHashKey != "" {
		n += protowire.SizeTag(fieldExplicitHashKeyIndex) + protowire.SizeVarint(ehk)
	}
	return n
}

// newEntrySize is the growth of a body by e when both its keys are new,
// with the given indexes.
func newEntrySize(pk, ehk uint64, e Entry) int {
	n := keyEntrySize(e.PartitionKey) +
		protowire.SizeTag(fieldRecords) + protowire.SizeBytes(recordSize(pk, ehk, e))
	if e.ExplicitHashKey != "" {
		n += keyEntrySize(e.ExplicitHashKey)
	}
	return n
}

// indexes returns the key table indexes e would get, and whether each key
// is new to the tables.
func (a *Aggregator) indexes(e Entry) (pk, ehk uint64, newPK, newEHK bool) {
	pk, ok := a.pkIndex[e.PartitionKey]
	if !ok {
		pk, newPK = uint64(len(a.pks)), true
	}
	if e.ExplicitHashKey != "" {
		if ehk, ok = a.ehkIndex[e.ExplicitHashKey]; !ok {
			ehk, newEHK = uint64(len(a.ehks)), true
		}
	}
	return pk, ehk, newPK, newEHK
}

// growth is how much adding e would grow the body, exactly.
func (a *Aggregator) growth(e Entry) int {
	pk, ehk, newPK, newEHK := a.indexes(e)
	n := protowire.SizeTag(fieldRecords) + protowire.SizeBytes(recordSize(pk, ehk, e))
	if newPK {
		n += keyEntrySize(e.PartitionKey)
	}
	if newEHK {
		n += keyEntrySize(e.ExplicitHashKey)
	}
	return n
}

// add appends e to the current aggregate, which has room for it.
func (a *Aggregator) add(e Entry) {
	if a.pkIndex == nil {
		a.pkIndex = make(map[string]uint64)
		a.ehkIndex = make(map[string]uint64)
	}
	a.bodySize += a.growth(e)
	pk, ehk, newPK, newEHK := a.indexes(e)
	if newPK {
		a.pkIndex[e.PartitionKey] = pk
		a.pks = append(a.pks, e.PartitionKey)
	}
	if newEHK {
		a.ehkIndex[e.ExplicitHashKey] = ehk
		a.ehks = append(a.ehks, e.ExplicitHashKey)
	}
	r := a.records
	r = protowire.AppendTag(r, fieldRecords, protowire.BytesType)
	r = protowire.AppendVarint(r, uint64(recordSize(pk, ehk, e)))
	r = protowire.AppendTag(r, fieldPartitionKeyIndex, protowire.VarintType)
	r = protowire.AppendVarint(r, pk)
	if e.ExplicitHashKey != "" {
		r = protowire.AppendTag(r, fieldExplicitHashKeyIndex, protowire.VarintType)
		r = protowire.AppendVarint(r, ehk)
	}
	r = protowire.AppendTag(r, fieldData, protowire.BytesType)
	r = protowire.AppendBytes(r, e.Data)
	a.records = r
	if a.count == 0 {
		a.firstPK, a.firstEHK = e.PartitionKey, e.ExplicitHashKey
	}
	a.count++
}

// complete encodes the current aggregate and resets the aggregator.
func (a *Aggregator) complete() *AggregatedRecord {
	out := make([]byte, 0, overhead+a.bodySize)
	out = append(out, Magic...)
	for _, k := range a.pks {
		out = protowire.AppendTag(out, fieldPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	for _, k := range a.ehks {
		out = protowire.AppendTag(out, fieldExplicitHashKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	out = append(out, a.records...)
	sum := md5Sum(out[len(Magic):])
	out = append(out, sum[:]...)

	rec := &AggregatedRecord{
		PartitionKey:    AggregatePartitionKey,
		ExplicitHashKey: a.firstEHK,
		Data:            out,
		UserRecords:     a.count,
	}
	if rec.ExplicitHashKey == "" {
		rec.ExplicitHashKey = HashKey(a.firstPK)
	}

	clear(a.pkIndex)
	clear(a.ehkIndex)
	clear(a.pks) // drop references to the callers' strings
	clear(a.ehks)
	a.pks, a.ehks, a.records = a.pks[:0], a.ehks[:0], a.records[:0]
	a.count, a.bodySize = 0, 0
	a.firstPK, a.firstEHK = "", ""
	return rec
}

// HashKey returns the hash key Kinesis derives from a partition key: the MD5
// of its UTF-8 bytes as an unsigned 128-bit big-endian integer, in decimal.
func HashKey(partitionKey string) string {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:]).String()
}
