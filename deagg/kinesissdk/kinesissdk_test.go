package kinesissdk_test

import (
	"crypto/md5"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/deagg/kinesissdk"
)

func TestRoundTripThroughSDKTypes(t *testing.T) {
	agg := &deagg.Aggregator{}
	for _, e := range []deagg.Entry{
		{PartitionKey: "user-1", Data: []byte("one")},
		{PartitionKey: "user-2", ExplicitHashKey: "12345", Data: []byte("two")},
	} {
		_, err := agg.Add(e)
		require.NoError(t, err)
	}
	out := agg.Flush()
	entry := kinesissdk.PutRecordsRequestEntry(out)
	assert.Equal(t, out.Data, entry.Data)
	assert.Equal(t, "a", aws.ToString(entry.PartitionKey))
	assert.Equal(t, deagg.HashKey("user-1"), aws.ToString(entry.ExplicitHashKey))

	in := kinesissdk.PutRecordInput("my-stream", out)
	assert.Equal(t, "my-stream", aws.ToString(in.StreamName))
	assert.Equal(t, entry.ExplicitHashKey, in.ExplicitHashKey)
	assert.Nil(t, kinesissdk.PutRecordInput("", out).StreamName)

	// What GetRecords would return for it, plus a plain and a corrupt record.
	at := time.Unix(1764150000, 0)
	body := []byte{0x1a, 0x02, 0x08, 0x00} // a record without data
	sum := md5.Sum(body)
	corrupt := append(append([]byte(deagg.Magic), body...), sum[:]...)
	records := []types.Record{
		{Data: entry.Data, PartitionKey: entry.PartitionKey, SequenceNumber: aws.String("1"),
			ApproximateArrivalTimestamp: &at, EncryptionType: types.EncryptionTypeKms},
		{Data: []byte("plain"), PartitionKey: aws.String("p"), SequenceNumber: aws.String("2")},
		{Data: corrupt, SequenceNumber: aws.String("3")},
	}
	got, err := kinesissdk.Deaggregate(records)
	require.ErrorIs(t, err, deagg.ErrCorrupt)
	var ce *deagg.CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "3", ce.SequenceNumber)
	assert.Contains(t, ce.Reason, "missing required field data")
	require.Len(t, got, 3)
	assert.Equal(t, "user-1", got[0].PartitionKey)
	assert.False(t, got[0].HasExplicitHashKey)
	assert.Equal(t, "12345", got[1].ExplicitHashKey)
	assert.Equal(t, "two", string(got[1].Data))
	assert.Equal(t, uint64(1), got[1].SubSequenceNumber)
	assert.Equal(t, types.EncryptionTypeKms, got[1].EncryptionType)
	assert.Equal(t, at, got[1].ApproximateArrivalTimestamp)
	assert.Equal(t, "1", got[1].SequenceNumber)
	assert.Equal(t, "p", got[2].PartitionKey)
	assert.False(t, got[2].Aggregated)

	var streamed []kinesissdk.UserRecord
	for u, err := range kinesissdk.Iter(records) {
		if err == nil {
			streamed = append(streamed, u)
		}
	}
	assert.Equal(t, got, streamed)

	again, err := kinesissdk.AppendUserRecords(got[:0], records, deagg.PassThroughCorrupt())
	require.NoError(t, err)
	assert.Len(t, again, 4)
}
