package lambdaevent_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/deagg"
	"github.com/kclgo/kclgo/deagg/lambdaevent"
)

// corruptAggregate has a valid magic and MD5 around a record that points
// past its (empty) partition key table.
func corruptAggregate() []byte {
	return deaggTestAggregate([]byte{0x1a, 0x04, 0x08, 0x05, 0x1a, 0x00})
}

func eventRecord(i int, data []byte) events.KinesisEventRecord {
	return events.KinesisEventRecord{
		AwsRegion:         "eu-west-1",
		EventID:           fmt.Sprintf("shardId-000000000000:%d", i),
		EventName:         "aws:kinesis:record",
		EventSource:       "aws:kinesis",
		EventSourceArn:    "arn:aws:kinesis:eu-west-1:123456789012:stream/s",
		EventVersion:      "1.0",
		InvokeIdentityArn: "arn:aws:iam::123456789012:role/r",
		Kinesis: events.KinesisRecord{
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: time.Unix(1764150000+int64(i), 0)},
			Data:                        data,
			EncryptionType:              "NONE",
			PartitionKey:                "a",
			SequenceNumber:              fmt.Sprintf("4959000000000000000000000000%d", i),
			KinesisSchemaVersion:        "1.0",
		},
	}
}

func testEvent(t *testing.T) (records []events.KinesisEventRecord, want int) {
	agg := &deagg.Aggregator{}
	for i := range 5 {
		_, err := agg.Add(deagg.Entry{PartitionKey: fmt.Sprint("pk-", i), Data: []byte{byte(i)}})
		require.NoError(t, err)
	}
	return []events.KinesisEventRecord{
		eventRecord(0, agg.Flush().Data),
		eventRecord(1, []byte("plain")),
		eventRecord(2, corruptAggregate()),
		eventRecord(3, []byte("after")),
	}, 5 + 1 + 1
}

func TestDeaggregate(t *testing.T) {
	records, want := testEvent(t)
	got, err := lambdaevent.Deaggregate(records)
	require.ErrorIs(t, err, deagg.ErrCorrupt)
	require.Len(t, got, want)
	corrupt := deagg.CorruptRecords(err)
	require.Len(t, corrupt, 1)
	assert.Equal(t, records[2].Kinesis.SequenceNumber, corrupt[0].SequenceNumber)

	for i, r := range got {
		src := records[0]
		switch {
		case i == 5:
			src = records[1]
		case i == 6:
			src = records[3]
		}
		assert.Equal(t, src.EventID, r.Event.EventID)
		assert.Equal(t, src.EventSourceArn, r.Event.EventSourceArn)
		assert.Equal(t, src.AwsRegion, r.Event.AwsRegion)
		assert.Equal(t, src.Kinesis.SequenceNumber, r.SequenceNumber)
		assert.Equal(t, src.Kinesis.ApproximateArrivalTimestamp.Time, r.ApproximateArrivalTimestamp)
		ev := r.KinesisEventRecord()
		assert.Equal(t, r.PartitionKey, ev.Kinesis.PartitionKey)
		assert.Equal(t, r.Data, ev.Kinesis.Data)
		assert.Equal(t, src.EventName, ev.EventName)
		assert.Equal(t, src.Kinesis.EncryptionType, ev.Kinesis.EncryptionType)
	}
	assert.Equal(t, "pk-3", got[3].PartitionKey)
	assert.Equal(t, uint64(3), got[3].SubSequenceNumber)
	assert.True(t, got[3].Aggregated)
	assert.False(t, got[5].Aggregated)
	assert.Equal(t, "plain", string(got[5].Data))

	// Iter gives the same, with the error in place.
	var streamed []lambdaevent.Record
	for r, err := range lambdaevent.Iter(records) {
		if err != nil {
			assert.ErrorIs(t, err, deagg.ErrCorrupt)
			assert.Equal(t, 6, len(streamed), "the error comes where the record was")
			continue
		}
		streamed = append(streamed, r)
	}
	assert.Equal(t, got, streamed)

	// The KCL's pass-through.
	kcl, err := lambdaevent.AppendRecords(nil, records, deagg.PassThroughCorrupt())
	require.NoError(t, err)
	require.Len(t, kcl, want+1)
	assert.Equal(t, records[2].Kinesis.Data, kcl[6].Data)
}

func TestIterStops(t *testing.T) {
	records, _ := testEvent(t)
	n := 0
	for range lambdaevent.Iter(records) {
		n++
		if n == 2 {
			break
		}
	}
	assert.Equal(t, 2, n)
}
