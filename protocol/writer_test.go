package protocol

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type countingWriter struct {
	bytes.Buffer
	writes, flushes int
}

func (c *countingWriter) Write(p []byte) (int, error) { c.writes++; return c.Buffer.Write(p) }
func (c *countingWriter) Flush() error                { c.flushes++; return nil }

func TestWriter(t *testing.T) {
	tests := []struct {
		m    Message
		want string
	}{
		{Status{ResponseFor: "initialize"}, `{"action":"status","responseFor":"initialize"}`},
		{Checkpoint{}, `{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null}`},
		{Checkpoint{SequenceNumber: ptr("4959"), SubSequenceNumber: ptr(int64(3))}, `{"action":"checkpoint","sequenceNumber":"4959","subSequenceNumber":3}`},
		{Checkpoint{SequenceNumber: ptr("1"), Error: "ThrottlingException"}, `{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":null,"error":"ThrottlingException"}`},
		{Status{ResponseFor: "a\"b\\c\n\x01é\u2028\xff"}, `{"action":"status","responseFor":"a\"b\\c\n\u0001é\u2028\ufffd"}`},
		{Initialize{ShardID: "s", SequenceNumber: ptr("TRIM_HORIZON"), SubSequenceNumber: ptr(int64(0))}, `{"action":"initialize","shardId":"s","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`},
		{ProcessRecords{Records: []Record{{Data: []byte("meow"), PartitionKey: "cat", SequenceNumber: "1", ApproximateArrivalTimestamp: 5}, {PartitionKey: "k", SequenceNumber: "2", SubSequenceNumber: 1}}},
			`{"action":"processRecords","records":[{"data":"bWVvdw==","partitionKey":"cat","sequenceNumber":"1","approximateArrivalTimestamp":5,"subSequenceNumber":0,"action":"record"},{"data":null,"partitionKey":"k","sequenceNumber":"2","approximateArrivalTimestamp":0,"subSequenceNumber":1,"action":"record"}],"millisBehindLatest":null}`},
		{Shutdown{Reason: ReasonZombie}, `{"action":"shutdown","reason":"ZOMBIE"}`},
		{LeaseLost{}, `{"action":"leaseLost"}`},
		{Unknown{Name: "future"}, `{"action":"future"}`},
	}
	for _, tt := range tests {
		var out countingWriter
		require.NoError(t, NewWriter(&out).Write(tt.m))
		assert.Equal(t, tt.want+"\n", out.String())
		assert.Equal(t, 1, out.writes, "one Write call per message")
		assert.Equal(t, 1, out.flushes)
		// What we write, we read back.
		back, err := Decode(bytes.TrimSuffix(out.Bytes(), []byte("\n")))
		require.NoError(t, err)
		assert.Equal(t, tt.m.Action(), back.Action())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriterError(t *testing.T) {
	err := NewWriter(failWriter{}).Write(Status{ResponseFor: "initialize"})
	assert.EqualError(t, err, "protocol: writing status: broken pipe")
}
