// Package kinesislimits is the one home of Amazon Kinesis Data Streams'
// limits on records and PutRecords calls, and of the checks that apply them.
// The producer and deagg's aggregator both use it; it imports nothing but the
// standard library, so deagg keeps depending on protobuf alone.
//
// Sources: the PutRecords and PutRecordsRequestEntry API references
// (PartitionKey 1 to 256, ExplicitHashKey pattern 0|([1-9]\d{0,38}), data
// blob plus partition key up to 1 MiB, up to 500 records and 5 MiB per
// request) and the KPL, whose validation (and kinesis-aggregation's
// AggRecord.validatePartitionKey) counts a partition key's length in UTF-8
// bytes. Kinesis itself counts Unicode characters; counting bytes is never
// looser, and keeps aggregates readable by the KPL's and the KCL's code.
package kinesislimits

import (
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

const (
	// MaxPartitionKeyLen is the longest partition key accepted, in UTF-8
	// bytes. The shortest is one byte.
	MaxPartitionKeyLen = 256
	// MaxRecordSize is the largest record Kinesis accepts: 1 MiB of data
	// plus partition key (UTF-8 bytes).
	MaxRecordSize = 1 << 20
	// MaxBatchRecords is the most entries one PutRecords call may carry.
	MaxBatchRecords = 500
	// MaxBatchBytes is the most bytes (data plus partition keys) one
	// PutRecords call may carry: 5 MiB.
	MaxBatchBytes = 5 << 20
	// MaxHashKey is 2^128-1, the largest hash key, in decimal.
	MaxHashKey = "340282366920938463463374607431768211455"
)

// Errors of the checks; they are wrapped with details, so test with
// errors.Is.
var (
	// ErrPartitionKey: empty, longer than MaxPartitionKeyLen bytes, or not
	// valid UTF-8.
	ErrPartitionKey = errors.New("invalid partition key")
	// ErrHashKey: not a decimal integer in [0, 2^128-1] written as Kinesis
	// accepts it (no sign, no leading zero, no space).
	ErrHashKey = errors.New("invalid explicit hash key")
	// ErrRecordSize: data plus partition key over MaxRecordSize.
	ErrRecordSize = errors.New("record too large")
)

// PartitionKeyOK reports whether pk is a partition key Kinesis accepts: the
// test of CheckPartitionKey, small enough to inline on a hot path.
func PartitionKeyOK(pk string) bool {
	n := len(pk)
	return n >= 1 && n <= MaxPartitionKeyLen && utf8.ValidString(pk)
}

// CheckPartitionKey returns nil when pk is a partition key Kinesis accepts,
// else an error matching ErrPartitionKey that says what is wrong.
func CheckPartitionKey(pk string) error {
	if n := len(pk); n == 0 || n > MaxPartitionKeyLen {
		return fmt.Errorf("%w: %d bytes, want 1 to %d", ErrPartitionKey, n, MaxPartitionKeyLen)
	}
	if !utf8.ValidString(pk) {
		return fmt.Errorf("%w: %q is not valid UTF-8", ErrPartitionKey, pk)
	}
	return nil
}

// CheckHashKey returns nil when ehk is an explicit hash key Kinesis accepts,
// else an error matching ErrHashKey.
func CheckHashKey(ehk string) error {
	if _, _, ok := ParseHashKey(ehk); !ok {
		return fmt.Errorf("%w: %q is not a decimal integer in [0, 2^128-1]", ErrHashKey, ehk)
	}
	return nil
}

// CheckRecordSize returns nil when a record of dataLen bytes of data under
// partition key pk is within MaxRecordSize, else an error matching
// ErrRecordSize.
func CheckRecordSize(pk string, dataLen int) error {
	if n := dataLen + len(pk); n > MaxRecordSize {
		return fmt.Errorf("%w: data plus partition key is %d bytes, limit %d", ErrRecordSize, n, MaxRecordSize)
	}
	return nil
}

// ParseHashKey parses a decimal hash key in the form Kinesis accepts,
// 0|[1-9][0-9]{0,38} up to 2^128-1, into its high and low 64 bits.
func ParseHashKey(s string) (hi, lo uint64, ok bool) {
	if len(s) == 0 || len(s) > len(MaxHashKey) || (s[0] == '0' && len(s) > 1) {
		return 0, 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, 0, false
		}
	}
	// Same length: decimal strings compare like their values.
	if len(s) == len(MaxHashKey) && s > MaxHashKey {
		return 0, 0, false
	}
	for i := 0; i < len(s); i++ {
		// (hi, lo) = (hi, lo)*10 + digit, in 128 bits: no overflow, the value
		// is at most 2^128-1.
		d := uint64(s[i] - '0')
		loHi, loLo := bits.Mul64(lo, 10)
		hi = hi*10 + loHi
		lo = loLo + d
		if lo < loLo {
			hi++
		}
	}
	return hi, lo, true
}
