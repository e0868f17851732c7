package deagg

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Decoding in two passes (check, then each: the streaming form) or, for the
// layout every aggregator writes, in one (appendFast). Both take fast paths
// for that layout and leave anything else to the general decoder in wire.go.

// aggregate is the protobuf body of an aggregate with what a first pass
// learnt of it: check (or parse) checked it in full, so that each can walk
// it again without an error path; or scan read its top level, for
// appendFast, which checks the records as it fills.
type aggregate struct {
	body     []byte
	rec      *Record
	records  int // number of user records
	pkCount  int // entries in partition_key_table
	ehkCount int // entries in explicit_hash_key_table
	keyBytes int // total length of all key table entries
	first    int // offset in body of the first Record field (or len(body))
}

// keyTables returns the partition key and explicit hash key tables, backed
// by one string allocation for all the keys. It reads body only until it has
// found a.pkCount + a.ehkCount keys.
func (a *aggregate) keyTables() (pks, ehks []string) {
	n := a.pkCount + a.ehkCount
	if n == 0 {
		return nil, nil
	}
	var sb strings.Builder
	sb.Grow(a.keyBytes)
	// ends[i] is where the i-th key (in body order) ends in sb; negative
	// (-end-1) for an explicit hash key.
	var stack [64]int
	ends := stack[:0]
	for b := a.body; len(ends) < n; {
		num, typ, t := consumeTag(b)
		b = b[t:]
		if typ != protowire.BytesType || (num != fieldPartitionKeyTable && num != fieldExplicitHashKeyTable) {
			b = b[consumeValue(num, typ, b):]
			continue
		}
		v, m := consumeBytes(b)
		b = b[m:]
		sb.Write(v)
		if num == fieldPartitionKeyTable {
			ends = append(ends, sb.Len())
		} else {
			ends = append(ends, -sb.Len()-1)
		}
	}
	all := sb.String()
	keys := make([]string, n)
	pks, ehks = keys[:0:a.pkCount], keys[a.pkCount:a.pkCount]
	start := 0
	for _, end := range ends {
		if end >= 0 {
			pks = append(pks, all[start:end])
		} else {
			end = -end - 1
			ehks = append(ehks, all[start:end])
		}
		start = end
	}
	return pks, ehks
}

// setUserRecord makes *u the user record of entry e, the sub-th of a. It
// sets every field, one by one: cheaper than copying a whole struct.
func (a *aggregate) setUserRecord(u *UserRecord, e *entry, sub uint64, pks, ehks []string) {
	u.PartitionKey = pks[e.pk]
	if e.hasEHK {
		u.ExplicitHashKey, u.HasExplicitHashKey = ehks[e.ehk], true
	} else {
		u.ExplicitHashKey, u.HasExplicitHashKey = "", false
	}
	u.Aggregated = true
	u.SubSequenceNumber = sub
	u.Data = e.data
	u.SequenceNumber = a.rec.SequenceNumber
	u.ApproximateArrivalTimestamp = a.rec.ApproximateArrivalTimestamp
}

// recordHeader is the fast path for the header of a records field whose
// length takes one or two bytes: it returns the header length and the
// value length, or 0, 0 when b starts otherwise or the value is truncated.
func recordHeader(b []byte) (n, l int) {
	switch {
	case len(b) >= 2 && b[0] == 0x1a && b[1] < 0x80:
		n, l = 2, int(b[1])
	case len(b) >= 3 && b[0] == 0x1a && b[2] < 0x80:
		n, l = 3, int(b[1]&0x7f)|int(b[2])<<7
	default:
		return 0, 0
	}
	if l > len(b)-n {
		return 0, 0
	}
	return n, l
}

// walker walks the Record messages of a body from its first records field,
// skipping any other field.
type walker struct {
	b   []byte
	e   entry // the Record next found
	bad bool  // a malformed field or Record stopped the walk

	// What the walk skipped so far: key table entries.
	pkCount, ehkCount, keyBytes int
}

// next decodes the next Record into w.e. It returns false at the end of the
// body, or when w.bad.
func (w *walker) next() bool {
	b := w.b
	for len(b) > 0 {
		var v []byte
		if n, l := recordHeader(b); n > 0 {
			v, b = b[n:n+l], b[n+l:]
		} else {
			num, typ, n := consumeTag(b)
			if n < 0 {
				w.bad = true
				return false
			}
			b = b[n:]
			if num != fieldRecords || typ != protowire.BytesType {
				m := consumeValue(num, typ, b)
				if m < 0 {
					w.bad = true
					return false
				}
				if typ == protowire.BytesType && (num == fieldPartitionKeyTable || num == fieldExplicitHashKeyTable) {
					key, _ := consumeBytes(b)
					w.keyBytes += len(key)
					if num == fieldPartitionKeyTable {
						w.pkCount++
					} else {
						w.ehkCount++
					}
				}
				b = b[m:]
				continue
			}
			var m int
			if v, m = consumeBytes(b); m < 0 {
				w.bad = true
				return false
			}
			b = b[m:]
		}
		w.b = b
		if w.fastEntry(v) {
			return true
		}
		var why string
		if w.e, why = parseEntry(v); why != "" {
			w.bad = true
			return false
		}
		return true
	}
	w.b = b
	return false
}

// fastEntry decodes v into w.e when it has the layout aggregators write:
// partition_key_index, maybe explicit_hash_key_index, data, each once, in
// that order, indexes below 128 and data shorter than 16 KiB. It reports
// whether it did; if not, parseEntry must.
func (w *walker) fastEntry(v []byte) bool {
	if len(v) < 4 || v[0] != 0x08 || v[1] >= 0x80 {
		return false
	}
	e := &w.e
	e.pk, e.hasPK, e.ehk, e.hasEHK = uint64(v[1]), true, 0, false
	i := 2
	if v[2] == 0x10 && len(v) > 5 && v[3] < 0x80 {
		e.ehk, e.hasEHK = uint64(v[3]), true
		i = 4
	}
	if v[i] != 0x1a || i+1 >= len(v) {
		return false
	}
	if l := int(v[i+1]); l < 0x80 && i+2+l == len(v) {
		e.data, e.hasData = v[i+2:len(v):len(v)], true
		return true
	}
	if i+2 < len(v) && v[i+1] >= 0x80 && v[i+2] < 0x80 && i+3+(int(v[i+1]&0x7f)|int(v[i+2])<<7) == len(v) {
		e.data, e.hasData = v[i+3:len(v):len(v)], true
		return true
	}
	return false
}

// each yields the user records of an aggregate that parse has checked, in
// order, and reports whether yield asked for more.
func (a *aggregate) each(yield func(UserRecord) bool) bool {
	pks, ehks := a.keyTables()
	w := walker{b: a.body[a.first:]}
	for sub := uint64(0); w.next(); sub++ {
		var u UserRecord
		a.setUserRecord(&u, &w.e, sub, pks, ehks)
		if !yield(u) {
			return false
		}
	}
	return true
}

// check is the first pass of the two-pass path: it checks body in full and
// returns the counts each needs, or a reason. It walks with walker's fast
// paths and leaves any problem to parse, which names it.
func check(body []byte) (aggregate, string) {
	w := walker{b: body}
	var maxPK, maxEHK uint64
	agg := aggregate{body: body} // first 0: each walks from the top, over the key tables again
	for w.next() {
		agg.records++
		maxPK = max(maxPK, w.e.pk)
		if w.e.hasEHK {
			maxEHK = max(maxEHK, w.e.ehk+1)
		}
	}
	if w.bad || (agg.records > 0 && maxPK >= uint64(w.pkCount)) || maxEHK > uint64(w.ehkCount) {
		return parse(body)
	}
	agg.pkCount, agg.ehkCount, agg.keyBytes = w.pkCount, w.ehkCount, w.keyBytes
	return agg, ""
}

// scan reads the top level of body only: it counts the key table entries
// and the records, without looking inside the records. ok is false when
// the top level is malformed or a key table entry follows a record (a
// layout no aggregator writes): then only parse can tell.
func scan(body []byte) (agg aggregate, ok bool) {
	agg.body = body
	agg.first = len(body)
	for b := body; len(b) > 0; {
		off := len(body) - len(b)
		if n, l := recordHeader(b); n > 0 {
			if agg.records == 0 {
				agg.first = off
			}
			agg.records++
			b = b[n+l:]
			continue
		}
		num, typ, n := consumeTag(b)
		if n < 0 {
			return agg, false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return agg, false
			}
			b = b[m:]
			continue
		}
		v, m := consumeBytes(b)
		if m < 0 {
			return agg, false
		}
		b = b[m:]
		switch num {
		case fieldPartitionKeyTable, fieldExplicitHashKeyTable:
			if agg.records > 0 {
				return agg, false
			}
			if num == fieldPartitionKeyTable {
				agg.pkCount++
			} else {
				agg.ehkCount++
			}
			agg.keyBytes += len(v)
		case fieldRecords:
			if agg.records == 0 {
				agg.first = off
			}
			agg.records++
		}
	}
	return agg, true
}

// appendFast appends the user records of body to dst in one pass over the
// records, for the layout every aggregator writes (key tables first). It
// checks each record as it goes; ok false means dst is returned unchanged
// and the caller must take the two-pass path, which finds the reason.
func appendFast(dst []UserRecord, body []byte, rec *Record) (_ []UserRecord, ok bool) {
	agg, ok := scan(body)
	if !ok {
		return dst, false
	}
	agg.rec = rec
	pks, ehks := agg.keyTables()
	n0 := len(dst)
	dst = slices.Grow(dst, agg.records)
	w := walker{b: body[agg.first:]}
	for sub := uint64(0); w.next(); sub++ {
		e := &w.e
		if e.pk >= uint64(len(pks)) || (e.hasEHK && e.ehk >= uint64(len(ehks))) || len(dst) == cap(dst) {
			w.bad = true
			break
		}
		dst = dst[:len(dst)+1] // slices.Grow made room for agg.records
		agg.setUserRecord(&dst[len(dst)-1], e, sub, pks, ehks)
	}
	if w.bad {
		clear(dst[n0:])
		return dst[:n0], false
	}
	return dst, true
}
