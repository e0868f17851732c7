// Package adapt holds what the deagg adapters (lambdaevent, kinesissdk)
// share: deaggregating a slice of some SDK's record type into some richer
// user record type, in bulk or streaming.
package adapt

import (
	"errors"
	"iter"

	"github.com/kclgo/kclgo/deagg"
)

// Adapter converts between an SDK's record type In and a user record type
// Out.
type Adapter[In, Out any] struct {
	// Record returns the deagg.Record view of an input record.
	Record func(*In) deagg.Record
	// Wrap returns the user record u of input record in.
	Wrap func(in *In, u deagg.UserRecord) Out
}

// Append appends the user records of records to dst, as
// deagg.AppendUserRecords does (corrupt records give joined
// *deagg.CorruptError values, and the others are still appended).
func (a Adapter[In, Out]) Append(dst []Out, records []In, opts []deagg.Option) ([]Out, error) {
	var scratch []deagg.UserRecord
	var errs []error
	for i := range records {
		var err error
		scratch, err = deagg.AppendRecord(scratch[:0], a.Record(&records[i]), opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, u := range scratch {
			dst = append(dst, a.Wrap(&records[i], u))
		}
	}
	clear(scratch) // no reference to the input survives in scratch
	return dst, errors.Join(errs...)
}

// Iter yields the user records of records one at a time, as deagg.Iter does.
func (a Adapter[In, Out]) Iter(records []In, opts []deagg.Option) iter.Seq2[Out, error] {
	return func(yield func(Out, error) bool) {
		for i := range records {
			for u, err := range deagg.IterRecord(a.Record(&records[i]), opts...) {
				var out Out
				if err == nil {
					out = a.Wrap(&records[i], u)
				}
				if !yield(out, err) {
					return
				}
			}
		}
	}
}
