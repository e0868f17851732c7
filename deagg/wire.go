package deagg

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of messages.proto (package aws.kinesis.protobuf, proto2).
const (
	fieldPartitionKeyTable    protowire.Number = 1 // AggregatedRecord: repeated string
	fieldExplicitHashKeyTable protowire.Number = 2 // AggregatedRecord: repeated string
	fieldRecords              protowire.Number = 3 // AggregatedRecord: repeated Record

	fieldPartitionKeyIndex    protowire.Number = 1 // Record: required uint64
	fieldExplicitHashKeyIndex protowire.Number = 2 // Record: optional uint64
	fieldData                 protowire.Number = 3 // Record: required bytes
	fieldTags                 protowire.Number = 4 // Record: repeated Tag

	fieldTagKey protowire.Number = 1 // Tag: required string (Tag.value, 2, is optional)
)

// topFieldName names a field of AggregatedRecord.
func topFieldName(num protowire.Number) string {
	switch num {
	case fieldPartitionKeyTable:
		return "partition_key_table"
	case fieldExplicitHashKeyTable:
		return "explicit_hash_key_table"
	case fieldRecords:
		return "records"
	}
	return "unknown field"
}

// entry is one decoded Record message.
type entry struct {
	pk, ehk       uint64
	hasPK, hasEHK bool
	hasData       bool
	data          []byte
}

// parse checks that body is a valid AggregatedRecord: well formed, every
// required field present, every index inside its table. It returns the
// counts the second pass needs, or a non-empty reason.
func parse(body []byte) (agg aggregate, reason string) {
	agg.body = body
	agg.first = len(body)
	var maxPK, maxEHK uint64
	pkRec, ehkRec := -1, -1 // the record holding the largest index seen
	for b := body; len(b) > 0; {
		off := len(body) - len(b)
		num, typ, n := consumeTag(b)
		if n < 0 {
			return agg, fmt.Sprintf("field tag at offset %d: %s", off, wireError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType || num < fieldPartitionKeyTable || num > fieldRecords {
			// Unknown field (or a known one with another wire type, which
			// protobuf parsers also treat as unknown): skip it.
			m := consumeValue(num, typ, b)
			if m < 0 {
				return agg, fmt.Sprintf("unknown field %d at offset %d: %s", num, off, wireError(m))
			}
			b = b[m:]
			continue
		}
		v, m := consumeBytes(b)
		if m < 0 {
			return agg, fmt.Sprintf("%s (field %d) at offset %d: %s", topFieldName(num), num, off, wireError(m))
		}
		b = b[m:]
		switch num {
		case fieldPartitionKeyTable:
			agg.pkCount++
			agg.keyBytes += len(v)
		case fieldExplicitHashKeyTable:
			agg.ehkCount++
			agg.keyBytes += len(v)
		case fieldRecords:
			e, why := parseEntry(v)
			if why != "" {
				return agg, fmt.Sprintf("record %d: %s", agg.records, why)
			}
			if pkRec < 0 || e.pk > maxPK {
				maxPK, pkRec = e.pk, agg.records
			}
			if e.hasEHK && (ehkRec < 0 || e.ehk > maxEHK) {
				maxEHK, ehkRec = e.ehk, agg.records
			}
			if agg.records == 0 {
				agg.first = off
			}
			agg.records++
		}
	}
	if pkRec >= 0 && maxPK >= uint64(agg.pkCount) {
		return agg, fmt.Sprintf("record %d: partition_key_index %d out of range (partition_key_table has %s)",
			pkRec, maxPK, entries(agg.pkCount))
	}
	if ehkRec >= 0 && maxEHK >= uint64(agg.ehkCount) {
		return agg, fmt.Sprintf("record %d: explicit_hash_key_index %d out of range (explicit_hash_key_table has %s)",
			ehkRec, maxEHK, entries(agg.ehkCount))
	}
	return agg, ""
}

// protowire's error codes (see protowire.ParseError; a test checks them).
const (
	errCodeTruncated   = -1
	errCodeFieldNumber = -2
)

// wireError describes a negative length from protowire: the same meaning as
// protowire.ParseError(n), without its deliberately unstable text.
func wireError(n int) string {
	switch n {
	case errCodeTruncated:
		return "truncated (unexpected end of data)"
	case errCodeFieldNumber:
		return "invalid field number"
	case -3:
		return "varint overflow"
	case -4:
		return "reserved wire type"
	case -5:
		return "mismatched end group marker"
	case -6:
		return "groups nested too deep"
	}
	return "malformed protobuf"
}

// consumeTag is protowire.ConsumeTag with a fast path for one-byte tags,
// that also rejects field numbers above protowire.MaxValidNumber, as the
// protobuf runtime does.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	if len(b) > 0 && b[0] < 0x80 && b[0] >= 8 {
		return protowire.Number(b[0] >> 3), protowire.Type(b[0] & 7), 1
	}
	return consumeLongTag(b)
}

func consumeLongTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, errCodeFieldNumber
	}
	return num, typ, n
}

// consumeVarint is protowire.ConsumeVarint with a fast path for one byte.
func consumeVarint(b []byte) (uint64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return uint64(b[0]), 1
	}
	return protowire.ConsumeVarint(b)
}

// consumeBytes is protowire.ConsumeBytes built on consumeVarint.
func consumeBytes(b []byte) ([]byte, int) {
	m, n := consumeVarint(b)
	if n < 0 {
		return nil, n
	}
	if m > uint64(len(b)-n) {
		return nil, errCodeTruncated
	}
	return b[n : n+int(m)], n + int(m)
}

// consumeValue skips a field value, as protowire.ConsumeFieldValue.
func consumeValue(num protowire.Number, typ protowire.Type, b []byte) int {
	if typ == protowire.BytesType {
		_, n := consumeBytes(b)
		return n
	}
	return protowire.ConsumeFieldValue(num, typ, b)
}

// consumeField is protowire.ConsumeField with consumeTag's check.
func consumeField(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := consumeTag(b)
	if n < 0 {
		return 0, 0, n
	}
	m := consumeValue(num, typ, b[n:])
	if m < 0 {
		return 0, 0, m
	}
	return num, typ, n + m
}

// entries says how many entries a table has.
func entries(n int) string {
	if n == 1 {
		return "1 entry"
	}
	return fmt.Sprintf("%d entries", n)
}

// parseEntry decodes one Record message, checking its required fields and
// its tags: any encoding, valid or not (walker.next has a fast path for the
// usual one).
func parseEntry(b []byte) (e entry, reason string) {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return e, fmt.Sprintf("field tag: %s", wireError(n))
		}
		b = b[n:]
		switch {
		case num == fieldPartitionKeyIndex && typ == protowire.VarintType:
			e.pk, n = consumeVarint(b)
			e.hasPK = true
		case num == fieldExplicitHashKeyIndex && typ == protowire.VarintType:
			e.ehk, n = consumeVarint(b)
			e.hasEHK = true
		case num == fieldData && typ == protowire.BytesType:
			e.data, n = consumeBytes(b)
			e.hasData = true
		case num == fieldTags && typ == protowire.BytesType:
			var tag []byte
			if tag, n = consumeBytes(b); n >= 0 {
				if why := checkTag(tag); why != "" {
					return e, "tag: " + why
				}
			}
		default:
			n = consumeValue(num, typ, b)
		}
		if n < 0 {
			return e, fmt.Sprintf("field %d: %s", num, wireError(n))
		}
		b = b[n:]
	}
	switch {
	case !e.hasPK:
		return e, "missing required field partition_key_index"
	case !e.hasData:
		return e, "missing required field data"
	}
	// Cap the slice so that appending to a user record's data can never
	// overwrite the bytes after it in the input.
	e.data = e.data[:len(e.data):len(e.data)]
	return e, ""
}

// checkTag checks one Tag message: well formed, with its required key.
func checkTag(b []byte) string {
	hasKey := false
	for len(b) > 0 {
		num, typ, n := consumeField(b)
		if n < 0 {
			return wireError(n)
		}
		if num == fieldTagKey && typ == protowire.BytesType {
			hasKey = true
		}
		b = b[n:]
	}
	if !hasKey {
		return "missing required field key"
	}
	return ""
}
