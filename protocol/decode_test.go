package protocol

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Message
	}{
		{"initialize", `{"action":"initialize","shardId":"shardId-000000000001","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`,
			Initialize{ShardID: "shardId-000000000001", SequenceNumber: ptr("TRIM_HORIZON"), SubSequenceNumber: ptr(int64(0))}},
		{"initialize nulls", `{"action":"initialize","shardId":"s","sequenceNumber":null,"subSequenceNumber":null}`,
			Initialize{ShardID: "s"}},
		{"initialize missing optional", `{"action":"initialize","shardId":"s"}`, Initialize{ShardID: "s"}},
		{"processRecords", `{"action":"processRecords","records":[{"data":"bWVvdw==","partitionKey":"cat","sequenceNumber":"4959","approximateArrivalTimestamp":1476889707000,"subSequenceNumber":2,"action":"record"}],"millisBehindLatest":7}`,
			ProcessRecords{Records: []Record{{Data: []byte("meow"), PartitionKey: "cat", SequenceNumber: "4959", SubSequenceNumber: 2, ApproximateArrivalTimestamp: 1476889707000}}, MillisBehindLatest: ptr(int64(7))}},
		{"processRecords nulls", `{"action":"processRecords","records":[{"data":null,"partitionKey":"k","sequenceNumber":"1","approximateArrivalTimestamp":null,"subSequenceNumber":null}],"millisBehindLatest":null}`,
			ProcessRecords{Records: []Record{{PartitionKey: "k", SequenceNumber: "1"}}}},
		{"processRecords empty", `{"action":"processRecords","records":[],"millisBehindLatest":0}`,
			ProcessRecords{Records: []Record{}, MillisBehindLatest: ptr(int64(0))}},
		{"unknown fields nested", `{"action":"processRecords","future":{"a":[1,{"b":null}]},"records":[{"data":"","partitionKey":"k","sequenceNumber":"1","x":{"y":[]},"subSequenceNumber":0}],"millisBehindLatest":0}`,
			ProcessRecords{Records: []Record{{Data: []byte{}, PartitionKey: "k", SequenceNumber: "1"}}, MillisBehindLatest: ptr(int64(0))}},
		{"leaseLost", `{"action":"leaseLost"}`, LeaseLost{}},
		{"shardEnded", `{"action":"shardEnded"}`, ShardEnded{}},
		{"shardEnded javadoc form", `{"action":"shardEnded","checkpoint":"SHARD_END"}`, ShardEnded{}},
		{"shutdownRequested", `{"action":"shutdownRequested"}`, ShutdownRequested{}},
		{"shutdown", `{"action":"shutdown","reason":"TERMINATE"}`, Shutdown{Reason: ReasonTerminate}},
		{"checkpoint ok", `{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":null}`, Checkpoint{}},
		{"checkpoint error", `{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":-1,"error":"IllegalArgumentException"}`,
			Checkpoint{SequenceNumber: ptr("1"), SubSequenceNumber: ptr(int64(-1)), Error: "IllegalArgumentException"}},
		{"status", `{"action": "status", "responseFor": "initialize"}`, Status{ResponseFor: "initialize"}},
		{"unknown action", `{"action":"prepareForNewDaemon","stuff":[1,2]}`, Unknown{Name: "prepareForNewDaemon"}},
		{"whitespace", " \t{ \"action\" : \"leaseLost\" }\t ", LeaseLost{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.line))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, line    string
		action, field string
		contains      string
	}{
		{"not json", `this is not json`, "", "", "invalid JSON"},
		{"truncated json", `{"action":"initialize","shardId":"s"`, "", "", "invalid JSON"},
		{"array", `[1,2]`, "", "", "want protocol.wireMessage"},
		{"no action", `{"shardId":"s"}`, "", "action", "missing"},
		{"empty action", `{"action":""}`, "", "action", "empty"},
		{"action wrong type", `{"action":5}`, "", "action", "got JSON number"},
		{"initialize no shard", `{"action":"initialize","sequenceNumber":null}`, "initialize", "shardId", "missing"},
		{"initialize shard number", `{"action":"initialize","shardId":7}`, "initialize", "shardId", "got JSON number, want string"},
		{"sub not int", `{"action":"initialize","shardId":"s","subSequenceNumber":1.5}`, "initialize", "subSequenceNumber", "want int64"},
		{"records missing", `{"action":"processRecords","millisBehindLatest":0}`, "processRecords", "records", "missing"},
		{"records null", `{"action":"processRecords","records":null}`, "processRecords", "records", "missing"},
		{"records object", `{"action":"processRecords","records":{}}`, "processRecords", "records", "got JSON object"},
		{"bad base64", `{"action":"processRecords","records":[{"data":"bWVvdw==","partitionKey":"k","sequenceNumber":"1"},{"data":"%%%","partitionKey":"k","sequenceNumber":"2"}]}`, "processRecords", "records[1].data", "illegal base64"},
		{"no sequence", `{"action":"processRecords","records":[{"data":"","partitionKey":"k"}]}`, "processRecords", "records[0].sequenceNumber", "missing"},
		{"no partition key", `{"action":"processRecords","records":[{"data":"","sequenceNumber":"1"}]}`, "processRecords", "records[0].partitionKey", "missing"},
		{"shutdown no reason", `{"action":"shutdown"}`, "shutdown", "reason", "missing"},
		{"status no responseFor", `{"action":"status"}`, "status", "responseFor", "missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.line))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrMalformed)
			var de *DecodeError
			require.True(t, errors.As(err, &de))
			assert.Equal(t, tt.action, de.Action, "action")
			assert.Equal(t, tt.field, de.Field, "field")
			assert.Contains(t, err.Error(), tt.contains)
		})
	}
}

func TestDecoderLineNumbersAndRecovery(t *testing.T) {
	in := "{\"action\":\"leaseLost\"}\n\n   \nnot json\n{\"action\":\"shardEnded\"}\n"
	d := NewDecoder(strings.NewReader(in))
	m, err := d.Next()
	require.NoError(t, err)
	assert.Equal(t, LeaseLost{}, m)
	_, err = d.Next()
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, 4, de.Line)
	assert.Contains(t, err.Error(), "protocol: line 4: ")
	m, err = d.Next()
	require.NoError(t, err)
	assert.Equal(t, ShardEnded{}, m)
	_, err = d.Next()
	assert.ErrorIs(t, err, io.EOF)
}

// TestDecoderReusesBuffers shows the documented reuse: a batch's records
// are valid until the next batch; the arrays are reused after that (two of
// them, alternately, so that the live batch is never written to).
func TestDecoderReusesBuffers(t *testing.T) {
	line := `{"action":"processRecords","records":[{"data":"YWFh","partitionKey":"k","sequenceNumber":"1"}],"millisBehindLatest":0}` + "\n"
	d := NewDecoder(strings.NewReader(line + line + line))
	var recs [][]Record
	for range 3 {
		m, err := d.Next()
		require.NoError(t, err)
		recs = append(recs, m.(ProcessRecords).Records)
	}
	assert.Same(t, &recs[0][0], &recs[2][0])
	assert.NotSame(t, &recs[0][0], &recs[1][0])
	assert.Equal(t, "aaa", string(recs[2][0].Data))
}

type transcriptLine struct {
	Scenario string `json:"scenario"`
	Dir      string `json:"dir"`
	Action   string `json:"action"`
	Line     string `json:"line"`
}

func readTranscript(t testing.TB) []transcriptLine {
	f, err := os.Open("testdata/daemon-2.5.8.jsonl")
	require.NoError(t, err)
	defer f.Close()
	var out []transcriptLine
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var tl transcriptLine
		require.NoError(t, json.Unmarshal(s.Bytes(), &tl))
		if tl.Dir != "event" {
			out = append(out, tl)
		}
	}
	require.NoError(t, s.Err())
	require.NotEmpty(t, out)
	return out
}

// TestRealDaemonLines decodes every line Amazon's KCL 2.5.8 daemon wrote and
// checks that re-encoding it gives the daemon's bytes back.
func TestRealDaemonLines(t *testing.T) {
	n := 0
	for _, tl := range readTranscript(t) {
		if tl.Dir != "daemon_to_child" {
			continue
		}
		n++
		m, err := Decode([]byte(tl.Line))
		require.NoError(t, err, tl.Line)
		assert.Equal(t, tl.Action, m.Action())
		got := string(AppendMessage(nil, m))
		want := tl.Line
		if c, ok := m.(Checkpoint); ok && c.Error == "" {
			// The daemon writes "error":null on a successful reply; a
			// request has no error key.
			want = strings.Replace(want, `,"error":null`, "", 1)
		}
		assert.Equal(t, want, got)
	}
	assert.Greater(t, n, 30)
}

// TestChildLinesTheDaemonAccepted decodes what our children wrote: each
// line the daemon accepted is a status or checkpoint; the two it skipped
// are malformed for us too (not JSON) or carry an extra key.
func TestChildLinesTheDaemonAccepted(t *testing.T) {
	for _, tl := range readTranscript(t) {
		if tl.Dir != "child_to_daemon" {
			continue
		}
		m, err := Decode([]byte(tl.Line))
		if tl.Action == "" {
			assert.ErrorIs(t, err, ErrMalformed, tl.Line)
			continue
		}
		require.NoError(t, err, tl.Line)
		assert.Contains(t, []string{ActionStatus, ActionCheckpoint}, m.Action())
		if tl.Scenario == "countchild-sigterm" {
			// Compact lines the daemon accepted: our writer writes the same bytes.
			assert.Equal(t, tl.Line, string(AppendMessage(nil, m)))
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, tl := range readTranscript(f) {
		f.Add([]byte(tl.Line))
	}
	seeds, err := os.ReadFile("testdata/seeds.jsonl")
	require.NoError(f, err)
	for _, l := range strings.Split(string(seeds), "\n") {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Decode(line)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			return
		}
		// Encode then decode again: the same message.
		enc := AppendMessage(nil, m)
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decoding %q: %v", enc, err)
		}
		enc2 := AppendMessage(nil, m2)
		if string(enc) != string(enc2) {
			t.Fatalf("unstable encoding:\n%s\n%s", enc, enc2)
		}
		// The stream decoder agrees with Decode.
		d := NewDecoder(strings.NewReader(string(line) + "\n"))
		m3, err := d.Next()
		if len(strings.TrimSpace(string(line))) == 0 || strings.ContainsAny(string(line), "\n\r") {
			return
		}
		if err != nil || string(AppendMessage(nil, m3)) != string(enc) {
			t.Fatalf("Decoder.Next disagrees: %v", err)
		}
	})
}
