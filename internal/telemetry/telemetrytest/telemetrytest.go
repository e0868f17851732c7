// Package telemetrytest reads what kclgo's instruments recorded, through the
// OpenTelemetry SDK's in-memory ManualReader, for tests.
package telemetrytest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Reader is an SDK MeterProvider with a ManualReader.
type Reader struct {
	// Provider is the MeterProvider to pass to the code under test.
	Provider *sdkmetric.MeterProvider
	reader   *sdkmetric.ManualReader
}

// New returns a Reader whose provider is shut down when the test ends.
func New(t testing.TB) *Reader {
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return &Reader{Provider: mp, reader: r}
}

// Collect returns what was recorded so far.
func (r *Reader) Collect(t testing.TB) Snapshot {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect: %v", err)
	}
	s := Snapshot{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			s[m.Name] = m
		}
	}
	return s
}

// Snapshot is one collection, by instrument name.
type Snapshot map[string]metricdata.Metrics

// Absent is a value for a match attribute: the point must not have the key.
const Absent = "\x00absent"

// matches reports whether set has every kv of want (a kv whose value is
// Absent: set has no such key).
func matches(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		v, ok := set.Value(kv.Key)
		if kv.Value.Type() == attribute.STRING && kv.Value.AsString() == Absent {
			if ok {
				return false
			}
			continue
		}
		if !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// Sum adds the values of a counter's points that match want.
func (s Snapshot) Sum(name string, want ...attribute.KeyValue) int64 {
	var n int64
	if d, ok := s[name].Data.(metricdata.Sum[int64]); ok {
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				n += p.Value
			}
		}
	}
	return n
}

// Gauge returns the value of the gauge's point that matches want; ok is
// false when none does.
func (s Snapshot) Gauge(name string, want ...attribute.KeyValue) (v int64, ok bool) {
	if d, isG := s[name].Data.(metricdata.Gauge[int64]); isG {
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				return p.Value, true
			}
		}
	}
	return 0, false
}

// FloatGauge returns the value of the float gauge's point that matches
// want (0 when none does).
func (s Snapshot) FloatGauge(name string, want ...attribute.KeyValue) float64 {
	if d, ok := s[name].Data.(metricdata.Gauge[float64]); ok {
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				return p.Value
			}
		}
	}
	return 0
}

// Count returns the number of measurements of a histogram's points that
// match want, and their sum.
func (s Snapshot) Count(name string, want ...attribute.KeyValue) (count uint64, sum float64) {
	switch d := s[name].Data.(type) {
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				count += p.Count
				sum += p.Sum
			}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if matches(p.Attributes, want) {
				count += p.Count
				sum += float64(p.Sum)
			}
		}
	}
	return count, sum
}

// Unit returns an instrument's unit ("" when it recorded nothing).
func (s Snapshot) Unit(name string) string { return s[name].Unit }

// Keys returns the attribute keys used by any point of the instrument,
// sorted: to check that no unbounded attribute slipped in.
func (s Snapshot) Keys(name string) []string {
	seen := map[string]bool{}
	add := func(set attribute.Set) {
		for _, kv := range set.ToSlice() {
			seen[string(kv.Key)] = true
		}
	}
	switch d := s[name].Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String lists the instruments recorded, for failure messages.
func (s Snapshot) String() string {
	var names []string
	for n, m := range s {
		names = append(names, fmt.Sprintf("%s [%s] %T", n, m.Unit, m.Data))
	}
	sort.Strings(names)
	return strings.Join(names, "\n")
}
