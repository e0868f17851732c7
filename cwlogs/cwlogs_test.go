package cwlogs_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/cwlogs"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestParseDataMessage(t *testing.T) {
	m, err := cwlogs.Parse(read(t, "kinesis-data-message.json.gz"))
	require.NoError(t, err)
	assert.False(t, m.IsControl())
	assert.Equal(t, cwlogs.DataMessage, m.MessageType)
	assert.Equal(t, "111111111111", m.Owner)
	assert.Equal(t, "CloudTrail/logs", m.LogGroup)
	assert.Equal(t, "111111111111_CloudTrail/logs_us-east-1", m.LogStream)
	assert.Equal(t, []string{"RecipientStream"}, m.SubscriptionFilters)
	require.Len(t, m.LogEvents, 3)
	e := m.LogEvents[0]
	assert.Equal(t, "31953106606966983378809025079804211143289615424298221568", e.ID)
	assert.Equal(t, time.Date(2015, 5, 28, 15, 27, 35, 0, time.UTC), e.Timestamp)
	assert.Equal(t, `{"eventVersion":"1.03","userIdentity":{"type":"Root"}`, e.Message)
	assert.Nil(t, e.ExtractedFields)
	assert.Empty(t, m.PolicyLevel)
}

func TestParseLambdaSampleEvent(t *testing.T) {
	m, err := cwlogs.ParseLambdaEvent(read(t, "lambda-sample-event.json"))
	require.NoError(t, err)
	assert.Equal(t, "testLogGroup", m.LogGroup)
	assert.Equal(t, "testLogStream", m.LogStream)
	assert.Equal(t, []string{"testFilter"}, m.SubscriptionFilters)
	require.Len(t, m.LogEvents, 2)
	assert.Equal(t, "[ERROR] Second test message", m.LogEvents[1].Message)
	assert.Equal(t, int64(1440442987001), m.LogEvents[1].Timestamp.UnixMilli())
}

func TestParseControlMessage(t *testing.T) {
	m, err := cwlogs.Parse(read(t, "kinesis-control-message.json.gz"))
	require.NoError(t, err)
	assert.True(t, m.IsControl())
	assert.Equal(t, "CloudwatchLogs", m.Owner)
	require.Len(t, m.LogEvents, 1)
	assert.Contains(t, m.LogEvents[0].Message, "CWL CONTROL MESSAGE")
}

func TestParseAccountPolicyAndExtractedFields(t *testing.T) {
	m, err := cwlogs.Parse(read(t, "kinesis-account-policy.json.gz"))
	require.NoError(t, err)
	assert.Equal(t, "ACCOUNT_LEVEL_POLICY", m.PolicyLevel)
	m, err = cwlogs.Parse(read(t, "kinesis-extracted-fields.json.gz"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"ip": "127.0.0.1", "user": "frank", "status_code": "200", "size": "1534"}, m.LogEvents[0].ExtractedFields)
	assert.Equal(t, 123*time.Millisecond, time.Duration(m.LogEvents[0].Timestamp.Nanosecond()))
}

// Every fault gives a *DecodeError naming its stage, matching ErrMalformed.
func TestParseBadInput(t *testing.T) {
	for file, stage := range map[string]string{
		"corrupt-truncated.gz":         "gzip",
		"corrupt-crc.gz":               "gzip",
		"not-gzip.json":                "gzip",
		"unknown-message-type.json.gz": "envelope",
	} {
		_, err := cwlogs.Parse(read(t, file))
		var de *cwlogs.DecodeError
		require.ErrorAs(t, err, &de, file)
		assert.Equal(t, stage, de.Stage, file)
		assert.ErrorIs(t, err, cwlogs.ErrMalformed, file)
	}
	for name, payload := range map[string]string{
		"not json":           "not json at all",
		"no timestamp":       `{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"x"}]}`,
		"no messageType":     `{"owner":"1","logEvents":[]}`,
		"timestamp a string": `{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":"x","message":"x"}]}`,
	} {
		_, err := cwlogs.Parse(gz(t, []byte(payload)))
		assert.ErrorIs(t, err, cwlogs.ErrMalformed, name)
	}
	_, err := cwlogs.ParseLambdaEvent([]byte(`{"awslogs":{"data":"%%%"}}`))
	var de *cwlogs.DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, "base64", de.Stage)
	_, err = cwlogs.ParseLambdaEvent([]byte(`{"Records":[]}`))
	assert.ErrorIs(t, err, cwlogs.ErrMalformed)
}

// A payload that decompresses past the limit is refused (a gzip bomb).
func TestParseLimit(t *testing.T) {
	big := bytes.Repeat([]byte(" "), 1<<20)
	_, err := cwlogs.ParseLimit(gz(t, big), 1<<10)
	assert.ErrorIs(t, err, cwlogs.ErrMalformed)
	assert.ErrorContains(t, err, "more than 1024 bytes")
}

// Parse, marshal, compress, parse again: the same message.
func TestRoundTrip(t *testing.T) {
	for _, f := range []string{"kinesis-data-message.json.gz", "kinesis-extracted-fields.json.gz", "kinesis-control-message.json.gz"} {
		m, err := cwlogs.Parse(read(t, f))
		require.NoError(t, err)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		m2, err := cwlogs.Parse(gz(t, b))
		require.NoError(t, err)
		assert.Equal(t, m, m2, f)
	}
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// FuzzParse: Parse never panics, fails only with a DecodeError, and what
// it parses survives a round trip.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"kinesis-data-message.json.gz", "kinesis-control-message.json.gz", "kinesis-extracted-fields.json.gz", "kinesis-account-policy.json.gz", "corrupt-truncated.gz", "corrupt-crc.gz", "not-gzip.json"} {
		f.Add(read(f, name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := cwlogs.ParseLimit(data, 1<<20)
		if err != nil {
			var de *cwlogs.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a DecodeError", err)
			}
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cwlogs.Parse(gz(t, b)); err != nil {
			t.Fatalf("a parsed message does not parse again: %v", err)
		}
	})
}

// FuzzParseLambdaEvent: the Lambda event parser never panics and fails
// only with a DecodeError.
func FuzzParseLambdaEvent(f *testing.F) {
	f.Add(read(f, "lambda-sample-event.json"))
	f.Add([]byte(`{"awslogs":{"data":"%%%"}}`))
	f.Add([]byte(`{"awslogs":null}`))
	f.Fuzz(func(t *testing.T, event []byte) {
		if _, err := cwlogs.ParseLambdaEvent(event); err != nil {
			var de *cwlogs.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a DecodeError", err)
			}
		}
	})
}
