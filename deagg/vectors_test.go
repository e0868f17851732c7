package deagg_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/deagg"
)

// vector is one file of testdata/kpl (schema in testdata/kpl/README.md).
type vector struct {
	Name           string `json:"name"`
	PartitionKey   string `json:"partitionKey"`
	SequenceNumber string `json:"sequenceNumber"`
	Input          []byte `json:"input"`
	InputLength    int    `json:"inputLength"`
	Expected       struct {
		Classification string `json:"classification"`
		UserRecords    []struct {
			PartitionKey      string  `json:"partitionKey"`
			ExplicitHashKey   *string `json:"explicitHashKey"`
			Data              []byte  `json:"data"`
			SubSequenceNumber uint64  `json:"subSequenceNumber"`
		} `json:"userRecords"`
	} `json:"expected"`
}

const (
	classAggregated  = "aggregated"
	classPassThrough = "not aggregated: pass through unchanged"
	classCorrupt     = "corrupt"
)

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "kpl", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 30, "testdata/kpl must hold the 30 shared vectors")
	vs := make([]vector, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var v vector
		require.NoError(t, json.Unmarshal(raw, &v), f)
		require.Len(t, v.Input, v.InputLength, f)
		vs = append(vs, v)
	}
	return vs
}

func (v vector) record() deagg.Record {
	return deagg.Record{
		Data:                        v.Input,
		PartitionKey:                v.PartitionKey,
		SequenceNumber:              v.SequenceNumber,
		ApproximateArrivalTimestamp: time.Unix(1764150000, 0).UTC(),
	}
}

// checkVector checks what one call returned for v against its expectation.
func checkVector(t *testing.T, v vector, got []deagg.UserRecord, err error) {
	t.Helper()
	rec := v.record()
	switch v.Expected.Classification {
	case classAggregated:
		require.NoError(t, err)
		require.Len(t, got, len(v.Expected.UserRecords))
		for i, want := range v.Expected.UserRecords {
			u := got[i]
			assert.True(t, u.Aggregated, "record %d", i)
			assert.Equal(t, want.PartitionKey, u.PartitionKey, "record %d", i)
			if want.ExplicitHashKey == nil {
				assert.False(t, u.HasExplicitHashKey, "record %d", i)
				assert.Empty(t, u.ExplicitHashKey, "record %d", i)
			} else {
				assert.True(t, u.HasExplicitHashKey, "record %d", i)
				assert.Equal(t, *want.ExplicitHashKey, u.ExplicitHashKey, "record %d", i)
			}
			assert.Equal(t, string(want.Data), string(u.Data), "record %d", i)
			assert.Equal(t, want.SubSequenceNumber, u.SubSequenceNumber, "record %d", i)
			assert.Equal(t, rec.SequenceNumber, u.SequenceNumber, "record %d", i)
			assert.Equal(t, rec.ApproximateArrivalTimestamp, u.ApproximateArrivalTimestamp, "record %d", i)
		}
	case classPassThrough:
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, deagg.UserRecord{
			PartitionKey:                rec.PartitionKey,
			Data:                        rec.Data,
			SequenceNumber:              rec.SequenceNumber,
			ApproximateArrivalTimestamp: rec.ApproximateArrivalTimestamp,
		}, got[0])
	case classCorrupt:
		require.Error(t, err)
		assert.Empty(t, got, "no partial output")
		assert.ErrorIs(t, err, deagg.ErrCorrupt)
		var ce *deagg.CorruptError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, v.SequenceNumber, ce.SequenceNumber)
		assert.NotEmpty(t, ce.Reason)
		assert.Equal(t, rec, ce.Raw)
		assert.Contains(t, err.Error(), v.SequenceNumber)
		t.Logf("%s: %v", v.Name, err)
	default:
		t.Fatalf("unknown classification %q", v.Expected.Classification)
	}
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			t.Run("AppendRecord", func(t *testing.T) {
				got, err := deagg.AppendRecord(nil, v.record())
				checkVector(t, v, got, err)
			})
			t.Run("Deaggregate", func(t *testing.T) {
				got, err := deagg.Deaggregate([]deagg.Record{v.record()})
				checkVector(t, v, got, err)
			})
			t.Run("Iter", func(t *testing.T) {
				var got []deagg.UserRecord
				var errs []error
				for u, err := range deagg.Iter([]deagg.Record{v.record()}) {
					if err != nil {
						errs = append(errs, err)
						assert.Zero(t, u)
						continue
					}
					got = append(got, u)
				}
				assert.LessOrEqual(t, len(errs), 1)
				checkVector(t, v, got, errors.Join(errs...))
			})
			t.Run("IsAggregate", func(t *testing.T) {
				assert.Equal(t, v.Expected.Classification != classPassThrough, deagg.IsAggregate(v.Input))
			})
			t.Run("PassThroughCorrupt", func(t *testing.T) {
				got, err := deagg.AppendRecord(nil, v.record(), deagg.PassThroughCorrupt())
				if v.Expected.Classification == classCorrupt {
					v.Expected.Classification = classPassThrough // what the KCL does
				}
				checkVector(t, v, got, err)
			})
		})
	}
}

// TestCorruptDoesNotFailOthers puts every vector in one call: each corrupt
// record gives one error, every other record gives its user records.
func TestCorruptDoesNotFailOthers(t *testing.T) {
	vs := loadVectors(t)
	records := make([]deagg.Record, len(vs))
	wantRecords, wantCorrupt := 0, 0
	for i, v := range vs {
		records[i] = v.record()
		switch v.Expected.Classification {
		case classAggregated:
			wantRecords += len(v.Expected.UserRecords)
		case classPassThrough:
			wantRecords++
		case classCorrupt:
			wantCorrupt++
		}
	}
	got, err := deagg.Deaggregate(records)
	require.Error(t, err)
	assert.Len(t, got, wantRecords)
	corrupt := deagg.CorruptRecords(err)
	require.Len(t, corrupt, wantCorrupt)
	seen := map[string]bool{}
	for _, v := range vs {
		if v.Expected.Classification == classCorrupt {
			seen[v.SequenceNumber] = true
		}
	}
	for _, ce := range corrupt {
		assert.True(t, seen[ce.SequenceNumber], ce.SequenceNumber)
	}

	// The streaming form gives the same records and the same errors.
	var streamed []deagg.UserRecord
	nErr := 0
	for u, err := range deagg.Iter(records) {
		if err != nil {
			nErr++
			continue
		}
		streamed = append(streamed, u)
	}
	assert.Equal(t, got, streamed)
	assert.Equal(t, wantCorrupt, nErr)
}
