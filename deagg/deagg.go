package deagg

import (
	"bytes"
	"crypto/md5"
	"errors"
	"iter"
	"slices"
)

// IsAggregate reports whether data has the form of an aggregate: the magic,
// more than 16 bytes after it, and a matching MD5 trailer. It does not parse
// the protobuf, so such a record may still be corrupt.
func IsAggregate(data []byte) bool {
	_, ok := verifiedBody(data)
	return ok
}

// verifiedBody returns the protobuf body of data when data has the magic,
// more than md5.Size bytes after it and a matching MD5 trailer: the KCL's
// test for an aggregate (AggregatorUtil.deaggregate).
func verifiedBody(data []byte) ([]byte, bool) {
	if len(data) <= len(Magic)+md5.Size || string(data[:len(Magic)]) != Magic {
		return nil, false
	}
	body := data[len(Magic) : len(data)-md5.Size]
	sum := md5Sum(body)
	if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return nil, false
	}
	return body, true
}

// Deaggregate returns the user records of records, in order. See
// [AppendUserRecords].
func Deaggregate(records []Record, opts ...Option) ([]UserRecord, error) {
	return AppendUserRecords(nil, records, opts...)
}

// AppendUserRecords appends the user records of records to dst, in order, and
// returns the extended slice. Pass dst[:0] of an earlier call to reuse its
// memory.
//
// A corrupt record adds no user record and a [*CorruptError] to the returned
// error (several are joined with errors.Join; [CorruptRecords] lists them);
// the user records of every other record are still appended, so the slice is
// complete even when the error is not nil.
func AppendUserRecords(dst []UserRecord, records []Record, opts ...Option) ([]UserRecord, error) {
	o := newOptions(opts)
	var errs []error
	for i := range records {
		var err error
		dst, err = o.appendRecord(dst, &records[i])
		if err != nil {
			errs = append(errs, err)
		}
	}
	return dst, errors.Join(errs...)
}

// AppendRecord appends the user records of one Kinesis record to dst. For a
// corrupt record it returns dst unchanged and a [*CorruptError].
func AppendRecord(dst []UserRecord, record Record, opts ...Option) ([]UserRecord, error) {
	o := newOptions(opts)
	return o.appendRecord(dst, &record)
}

// Iter yields the user records of records one at a time, in order, so they
// never all need to be in memory. A corrupt record yields one zero UserRecord
// with its [*CorruptError], then the iteration goes on with the next record.
// An aggregate is checked in full before its first user record is yielded.
func Iter(records []Record, opts ...Option) iter.Seq2[UserRecord, error] {
	o := newOptions(opts)
	return func(yield func(UserRecord, error) bool) {
		for i := range records {
			if !o.each(&records[i], yield) {
				return
			}
		}
	}
}

// IterRecord yields the user records of one Kinesis record, as [Iter] does.
func IterRecord(record Record, opts ...Option) iter.Seq2[UserRecord, error] {
	o := newOptions(opts)
	return func(yield func(UserRecord, error) bool) {
		o.each(&record, yield)
	}
}

// appendRecord is AppendRecord with options already applied.
func (o options) appendRecord(dst []UserRecord, rec *Record) ([]UserRecord, error) {
	body, ok := verifiedBody(rec.Data)
	if !ok {
		return append(dst, passThrough(rec)), nil
	}
	if out, ok := appendFast(dst, body, rec); ok {
		return out, nil
	}
	agg, isAgg, err := o.parse(rec, body)
	if err != nil {
		return dst, err
	}
	if !isAgg {
		return append(dst, passThrough(rec)), nil
	}
	dst = slices.Grow(dst, agg.records)
	agg.each(func(u UserRecord) bool {
		dst = append(dst, u)
		return true
	})
	return dst, nil
}

// each yields the user records of rec, or its error; it reports whether
// yield asked for more.
func (o options) each(rec *Record, yield func(UserRecord, error) bool) bool {
	agg, isAgg, err := o.open(rec)
	switch {
	case err != nil:
		return yield(UserRecord{}, err)
	case !isAgg:
		return yield(passThrough(rec), nil)
	}
	return agg.each(func(u UserRecord) bool { return yield(u, nil) })
}

// open classifies rec: a checked aggregate (isAgg true), a record to pass
// through (isAgg false), or a *CorruptError.
func (o options) open(rec *Record) (agg aggregate, isAgg bool, err error) {
	body, ok := verifiedBody(rec.Data)
	if !ok {
		return agg, false, nil
	}
	return o.parse(rec, body)
}

// parse is open for a body whose MD5 has been checked.
func (o options) parse(rec *Record, body []byte) (agg aggregate, isAgg bool, err error) {
	agg, reason := check(body)
	if reason != "" {
		if o.passThroughCorrupt {
			return agg, false, nil
		}
		return agg, false, &CorruptError{SequenceNumber: rec.SequenceNumber, Reason: reason, Raw: *rec}
	}
	agg.rec = rec
	return agg, true, nil
}

func passThrough(rec *Record) UserRecord {
	return UserRecord{
		PartitionKey:                rec.PartitionKey,
		Data:                        rec.Data,
		SequenceNumber:              rec.SequenceNumber,
		ApproximateArrivalTimestamp: rec.ApproximateArrivalTimestamp,
	}
}
