// Package cwlogs unpacks CloudWatch Logs subscription payloads: what a
// subscription filter puts into a Kinesis stream (or Firehose, or hands a
// Lambda function as awslogs.data) is a gzip-compressed JSON document, the
// envelope of a batch of log events from one log group and log stream.
//
// [Parse] takes a Kinesis record's Data (in a kcl processor, or a Lambda
// handler's KinesisEventRecord.Kinesis.Data) and returns the typed
// [Message]. [ParseLambdaEvent] takes the event of a Lambda function
// subscribed directly ({"awslogs":{"data":"<base64>"}}).
//
// CloudWatch Logs sends a CONTROL_MESSAGE when the subscription is set up,
// to check that the destination is reachable; it carries no log data
// ([Message.IsControl]): skip it.
//
// The package depends on the standard library alone.
package cwlogs

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The messageType values.
const (
	// DataMessage is a batch of log events.
	DataMessage = "DATA_MESSAGE"
	// ControlMessage checks that the destination is reachable; it
	// carries no log data.
	ControlMessage = "CONTROL_MESSAGE"
)

// DefaultMaxSize bounds the decompressed size of a payload in [Parse]: a
// Kinesis record holds at most 1 MiB compressed, and log text compresses
// well, but not a thousandfold.
const DefaultMaxSize = 64 << 20

// Message is one subscription payload.
type Message struct {
	// MessageType is DataMessage or ControlMessage.
	MessageType string `json:"messageType"`
	// Owner is the AWS account id of the log data ("CloudwatchLogs" in a
	// control message).
	Owner string `json:"owner"`
	// LogGroup is the log group's name.
	LogGroup string `json:"logGroup"`
	// LogStream is the log stream's name.
	LogStream string `json:"logStream"`
	// SubscriptionFilters names the subscription filters that matched.
	SubscriptionFilters []string `json:"subscriptionFilters"`
	// LogEvents are the log events, in the order CloudWatch Logs sent
	// them.
	LogEvents []LogEvent `json:"logEvents"`
	// PolicyLevel is set for an account-level subscription
	// ("ACCOUNT_LEVEL_POLICY"); empty for a log group's own filter.
	PolicyLevel string `json:"policyLevel,omitempty"`
}

// IsControl reports whether m is a control message.
func (m *Message) IsControl() bool { return m.MessageType == ControlMessage }

// LogEvent is one log event.
type LogEvent struct {
	// ID is the event's unique id, a decimal string.
	ID string `json:"id"`
	// Timestamp is when the event happened, with millisecond precision.
	Timestamp time.Time `json:"-"`
	// Message is the log line.
	Message string `json:"message"`
	// ExtractedFields are the fields a space-delimited filter pattern
	// extracted; nil without one.
	ExtractedFields map[string]string `json:"extractedFields,omitempty"`
}

// UnmarshalJSON reads the timestamp, milliseconds since the epoch.
func (e *LogEvent) UnmarshalJSON(b []byte) error {
	type plain LogEvent
	var w struct {
		*plain
		Timestamp *int64 `json:"timestamp"`
	}
	w.plain = (*plain)(e)
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Timestamp == nil {
		return errors.New("log event without timestamp")
	}
	e.Timestamp = time.UnixMilli(*w.Timestamp).UTC()
	return nil
}

// MarshalJSON writes the event as CloudWatch Logs does.
func (e LogEvent) MarshalJSON() ([]byte, error) {
	type plain LogEvent
	return json.Marshal(struct {
		plain
		Timestamp int64 `json:"timestamp"`
	}{plain(e), e.Timestamp.UnixMilli()})
}

// ErrMalformed matches every error of [Parse] about the payload itself.
var ErrMalformed = errors.New("cwlogs: malformed payload")

// DecodeError is a payload Parse could not read. It matches ErrMalformed.
type DecodeError struct {
	// Stage is where it failed: "base64", "gzip", "json" or "envelope".
	Stage string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("cwlogs: payload is not a CloudWatch Logs subscription message (%s): %v", e.Stage, e.Err)
}

// Unwrap returns the cause.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is matches ErrMalformed.
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }

// Parse unpacks one payload (gzip'd JSON), decompressing at most
// DefaultMaxSize bytes.
func Parse(data []byte) (*Message, error) { return ParseLimit(data, DefaultMaxSize) }

// ParseLimit is Parse with a bound on the decompressed size.
func ParseLimit(data []byte, maxSize int64) (*Message, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, &DecodeError{Stage: "gzip", Err: err}
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxSize+1))
	if err != nil {
		return nil, &DecodeError{Stage: "gzip", Err: err}
	}
	if int64(len(raw)) > maxSize {
		return nil, &DecodeError{Stage: "gzip", Err: fmt.Errorf("decompresses to more than %d bytes", maxSize)}
	}
	var m Message
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, &DecodeError{Stage: "json", Err: err}
	}
	switch m.MessageType {
	case DataMessage, ControlMessage:
	case "":
		return nil, &DecodeError{Stage: "envelope", Err: errors.New("no messageType")}
	default:
		return nil, &DecodeError{Stage: "envelope", Err: fmt.Errorf("unknown messageType %q", m.MessageType)}
	}
	return &m, nil
}

// ParseLambdaEvent unpacks the event of a Lambda function subscribed to a
// log group: {"awslogs":{"data":"<base64 of the gzip'd payload>"}}.
func ParseLambdaEvent(event []byte) (*Message, error) {
	var e struct {
		AWSLogs *struct {
			Data string `json:"data"`
		} `json:"awslogs"`
	}
	if err := json.Unmarshal(event, &e); err != nil {
		return nil, &DecodeError{Stage: "json", Err: err}
	}
	if e.AWSLogs == nil {
		return nil, &DecodeError{Stage: "envelope", Err: errors.New("no awslogs field")}
	}
	data, err := base64.StdEncoding.DecodeString(e.AWSLogs.Data)
	if err != nil {
		return nil, &DecodeError{Stage: "base64", Err: err}
	}
	return Parse(data)
}
