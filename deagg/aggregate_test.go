package deagg_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/deagg"
)

// collect adds every entry and flushes, returning every aggregate made.
func collect(t testing.TB, a *deagg.Aggregator, entries []deagg.Entry) []*deagg.AggregatedRecord {
	t.Helper()
	var out []*deagg.AggregatedRecord
	for _, e := range entries {
		done, err := a.Add(e)
		require.NoError(t, err)
		if done != nil {
			out = append(out, done)
		}
	}
	if last := a.Flush(); last != nil {
		out = append(out, last)
	}
	return out
}

// requireRoundTrip deaggregates aggs and checks they give entries back, in
// order, byte for byte, and that every aggregate respects max.
func requireRoundTrip(t testing.TB, entries []deagg.Entry, aggs []*deagg.AggregatedRecord, maxSize, maxCount int) {
	t.Helper()
	var got []deagg.UserRecord
	total := 0
	for i, agg := range aggs {
		require.LessOrEqual(t, agg.Size(), maxSize, "aggregate %d", i)
		require.Equal(t, len(agg.Data)+len(agg.PartitionKey), agg.Size())
		require.Positive(t, agg.UserRecords)
		if maxCount > 0 {
			require.LessOrEqual(t, agg.UserRecords, maxCount)
		}
		require.True(t, deagg.IsAggregate(agg.Data), "aggregate %d", i)
		before := len(got)
		var err error
		got, err = deagg.AppendRecord(got, deagg.Record{
			Data: agg.Data, PartitionKey: agg.PartitionKey, SequenceNumber: fmt.Sprint(i),
		})
		require.NoError(t, err)
		require.Equal(t, agg.UserRecords, len(got)-before)
		total += agg.UserRecords
	}
	require.Equal(t, len(entries), total)
	require.Len(t, got, len(entries))
	for i, e := range entries {
		u := got[i]
		require.True(t, u.Aggregated)
		require.Equal(t, e.PartitionKey, u.PartitionKey, "record %d", i)
		require.Equal(t, e.ExplicitHashKey != "", u.HasExplicitHashKey, "record %d", i)
		require.Equal(t, e.ExplicitHashKey, u.ExplicitHashKey, "record %d", i)
		require.True(t, bytes.Equal(e.Data, u.Data), "record %d data", i)
	}
}

func TestAggregatorRoundTrip(t *testing.T) {
	var entries []deagg.Entry
	for i := range 3000 {
		e := deagg.Entry{
			PartitionKey: fmt.Sprintf("pk-%d", i%37),
			Data:         bytes.Repeat([]byte{byte(i)}, i%300),
		}
		if i%3 == 0 {
			e.ExplicitHashKey = fmt.Sprint(i * 7919)
		}
		entries = append(entries, e)
	}
	for _, tc := range []struct {
		name            string
		maxSize, maxCnt int
	}{
		{"default", 0, 0},
		{"kpl", deagg.KPLMaxSize, 0},
		{"small", 1000, 0},
		{"count", 0, 100},
		{"tiny", 400, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &deagg.Aggregator{MaxSize: tc.maxSize, MaxCount: tc.maxCnt}
			aggs := collect(t, a, entries)
			maxSize := tc.maxSize
			if maxSize == 0 {
				maxSize = deagg.MaxRecordSize
			}
			requireRoundTrip(t, entries, aggs, maxSize, tc.maxCnt)
			assert.Zero(t, a.Len())
			assert.Nil(t, a.Flush())
		})
	}
}

// TestAggregatorFillsExactly checks the size accounting is exact: an
// aggregate is only completed when the next record would really not fit.
func TestAggregatorFillsExactly(t *testing.T) {
	const maxSize = 5000
	a := &deagg.Aggregator{MaxSize: maxSize}
	var aggs []*deagg.AggregatedRecord
	prevSize := 0
	for i := range 2000 {
		e := deagg.Entry{PartitionKey: fmt.Sprint("k", i%5), Data: make([]byte, i%97)}
		done, err := a.Add(e)
		require.NoError(t, err)
		if done != nil {
			require.Equal(t, prevSize, done.Size(), "Size() predicted the aggregate")
			// The record that did not fit would have overflowed the limit.
			probe := &deagg.Aggregator{MaxSize: 1 << 30}
			n := 0
			for _, d := range collectOf(t, done) {
				_, err := probe.Add(d)
				require.NoError(t, err)
				n++
			}
			_, err := probe.Add(e)
			require.NoError(t, err)
			assert.Greater(t, probe.Size(), maxSize)
			aggs = append(aggs, done)
		}
		prevSize = a.Size()
		assert.LessOrEqual(t, prevSize, maxSize)
	}
	require.NotEmpty(t, aggs)
}

// collectOf returns the entries of an aggregate.
func collectOf(t testing.TB, agg *deagg.AggregatedRecord) []deagg.Entry {
	t.Helper()
	us, err := deagg.AppendRecord(nil, deagg.Record{Data: agg.Data})
	require.NoError(t, err)
	out := make([]deagg.Entry, len(us))
	for i, u := range us {
		out[i] = deagg.Entry{PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Data: u.Data}
	}
	return out
}

func TestAggregatorOnComplete(t *testing.T) {
	var got []*deagg.AggregatedRecord
	a := &deagg.Aggregator{MaxCount: 10, OnComplete: func(r *deagg.AggregatedRecord) { got = append(got, r) }}
	var entries []deagg.Entry
	for i := range 95 {
		e := deagg.Entry{PartitionKey: "p", Data: []byte{byte(i)}}
		entries = append(entries, e)
		done, err := a.Add(e)
		require.NoError(t, err)
		assert.Nil(t, done, "with OnComplete, Add returns nil")
	}
	require.Len(t, got, 9)
	last := a.Flush()
	require.NotNil(t, last)
	assert.Equal(t, 5, last.UserRecords)
	assert.Len(t, got, 9, "Flush does not call OnComplete")
	requireRoundTrip(t, entries, append(got, last), deagg.MaxRecordSize, 10)
}

func TestAggregatorShard(t *testing.T) {
	// With no explicit hash key, the aggregate's is the hash of the first
	// record's partition key: the shard that record would have gone to.
	a := &deagg.Aggregator{}
	_, err := a.Add(deagg.Entry{PartitionKey: "pk-0", Data: []byte("x")})
	require.NoError(t, err)
	_, err = a.Add(deagg.Entry{PartitionKey: "other", ExplicitHashKey: "5", Data: []byte("y")})
	require.NoError(t, err)
	agg := a.Flush()
	assert.Equal(t, deagg.AggregatePartitionKey, agg.PartitionKey)
	assert.Equal(t, deagg.HashKey("pk-0"), agg.ExplicitHashKey)

	_, err = a.Add(deagg.Entry{PartitionKey: "pk-0", ExplicitHashKey: "42", Data: []byte("x")})
	require.NoError(t, err)
	assert.Equal(t, "42", a.Flush().ExplicitHashKey)

	// MD5("") and MD5("a") as decimal 128-bit integers.
	assert.Equal(t, "281949768489412648962353822266799178366", deagg.HashKey(""))
	assert.Equal(t, "16955237001963240173058271559858726497", deagg.HashKey("a"))
}

func TestAggregatorValidation(t *testing.T) {
	big := make([]byte, deagg.MaxRecordSize)
	for _, tc := range []struct {
		name string
		e    deagg.Entry
		want error
	}{
		{"empty pk", deagg.Entry{Data: []byte("x")}, deagg.ErrInvalidPartitionKey},
		{"long pk", deagg.Entry{PartitionKey: strings.Repeat("é", 129)}, deagg.ErrInvalidPartitionKey},
		{"bad utf8 pk", deagg.Entry{PartitionKey: "\xff"}, deagg.ErrInvalidPartitionKey},
		{"ehk sign", deagg.Entry{PartitionKey: "p", ExplicitHashKey: "-1"}, deagg.ErrInvalidExplicitHashKey},
		{"ehk plus", deagg.Entry{PartitionKey: "p", ExplicitHashKey: "+1"}, deagg.ErrInvalidExplicitHashKey},
		{"ehk hex", deagg.Entry{PartitionKey: "p", ExplicitHashKey: "0x10"}, deagg.ErrInvalidExplicitHashKey},
		{"ehk leading zero", deagg.Entry{PartitionKey: "p", ExplicitHashKey: "01"}, deagg.ErrInvalidExplicitHashKey},
		{"ehk 2^128", deagg.Entry{PartitionKey: "p", ExplicitHashKey: "340282366920938463463374607431768211456"}, deagg.ErrInvalidExplicitHashKey},
		{"ehk 40 digits", deagg.Entry{PartitionKey: "p", ExplicitHashKey: "1000000000000000000000000000000000000000"}, deagg.ErrInvalidExplicitHashKey},
		{"ehk space", deagg.Entry{PartitionKey: "p", ExplicitHashKey: " 1"}, deagg.ErrInvalidExplicitHashKey},
		{"too large", deagg.Entry{PartitionKey: "p", Data: big}, deagg.ErrRecordTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &deagg.Aggregator{}
			_, err := a.Add(deagg.Entry{PartitionKey: "keep", Data: []byte("kept")})
			require.NoError(t, err)
			done, err := a.Add(tc.e)
			require.ErrorIs(t, err, tc.want)
			assert.Nil(t, done)
			assert.Equal(t, 1, a.Len(), "a rejected record leaves the aggregator unchanged")
		})
	}
	for _, ok := range []deagg.Entry{
		{PartitionKey: strings.Repeat("é", 128)},
		{PartitionKey: "p", ExplicitHashKey: "0"},
		{PartitionKey: "p", ExplicitHashKey: "340282366920938463463374607431768211455"},
		{PartitionKey: "p", ExplicitHashKey: "99999999999999999999999999999999999999"},
	} {
		_, err := (&deagg.Aggregator{}).Add(ok)
		assert.NoError(t, err, "%+v", ok)
	}
}

// TestAggregatorLargest checks that the largest record that fits alone does
// fit exactly, counting the aggregate's own partition key.
func TestAggregatorLargest(t *testing.T) {
	// overhead 20 + partition key "a" 1 + table entry (1+1+1) + record entry
	// 1 + varint(n+6) 3 + [pk index 1+1] + [data 1 + varint(n) 3 + n] = n+34.
	a := &deagg.Aggregator{}
	_, err := a.Add(deagg.Entry{PartitionKey: "p", Data: make([]byte, deagg.MaxRecordSize-34)})
	require.NoError(t, err)
	assert.Equal(t, deagg.MaxRecordSize, a.Flush().Size(), "a full 1 MiB aggregate, partition key included")
	_, err = a.Add(deagg.Entry{PartitionKey: "p", Data: make([]byte, deagg.MaxRecordSize-33)})
	require.ErrorIs(t, err, deagg.ErrRecordTooLarge)
}

func TestAggregatorCopiesData(t *testing.T) {
	a := &deagg.Aggregator{}
	buf := []byte("first")
	_, err := a.Add(deagg.Entry{PartitionKey: "p", Data: buf})
	require.NoError(t, err)
	copy(buf, "XXXXX")
	us := collectOf(t, a.Flush())
	assert.Equal(t, "first", string(us[0].Data))
}
