package protocol

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// The wire format's rules, and the slow path: encoding/json into
// wireMessage. The fast path (internal/fastjson, through
// Decoder.fastMessage) reads the same members and ends in the same
// wireMessage.message and checkRecord, so that each rule is written once.

// wireMessage has a field for every key of every action, nil when the key
// is absent or null; message checks which ones the action needs.
type wireMessage struct {
	Action             *string       `json:"action"`
	ShardID            *string       `json:"shardId"`
	SequenceNumber     *string       `json:"sequenceNumber"`
	SubSequenceNumber  *int64        `json:"subSequenceNumber"`
	Records            *[]wireRecord `json:"records"`
	MillisBehindLatest *int64        `json:"millisBehindLatest"`
	Reason             *string       `json:"reason"`
	Error              *string       `json:"error"`
	ResponseFor        *string       `json:"responseFor"`

	hasRecords bool // a "records" array; the fast path fills no Records
}

type wireRecord struct {
	Data                        *string `json:"data"`
	PartitionKey                *string `json:"partitionKey"`
	SequenceNumber              *string `json:"sequenceNumber"`
	ApproximateArrivalTimestamp *int64  `json:"approximateArrivalTimestamp"`
	SubSequenceNumber           *int64  `json:"subSequenceNumber"`
}

// failer makes the DecodeErrors of one action's fields.
type failer struct{ action string }

func (f failer) fail(field, format string, args ...any) error {
	return &DecodeError{Action: f.action, Field: field, Err: fmt.Errorf(format, args...)}
}

// message builds the message of w: the one place that knows which members
// each action needs. action is w's action member (apart, so that it need
// not leak with the members a message keeps); records reads the batch of a
// processRecords.
func (w *wireMessage) message(action *string, records func(failer) ([]Record, error)) (Message, error) {
	if action == nil {
		return nil, &DecodeError{Field: "action", Err: errors.New("missing")}
	}
	f := failer{*action}
	fail := f.fail
	switch *action {
	case ActionInitialize:
		if w.ShardID == nil {
			return nil, fail("shardId", "missing")
		}
		return Initialize{ShardID: *w.ShardID, SequenceNumber: w.SequenceNumber, SubSequenceNumber: w.SubSequenceNumber}, nil
	case ActionProcessRecords:
		if !w.hasRecords {
			return nil, fail("records", "missing")
		}
		recs, err := records(f)
		if err != nil {
			return nil, err
		}
		return ProcessRecords{Records: recs, MillisBehindLatest: w.MillisBehindLatest}, nil
	case ActionLeaseLost:
		return LeaseLost{}, nil
	case ActionShardEnded:
		return ShardEnded{}, nil
	case ActionShutdownRequested:
		return ShutdownRequested{}, nil
	case ActionShutdown:
		if w.Reason == nil {
			return nil, fail("reason", "missing")
		}
		return Shutdown{Reason: *w.Reason}, nil
	case ActionCheckpoint:
		c := Checkpoint{SequenceNumber: w.SequenceNumber, SubSequenceNumber: w.SubSequenceNumber}
		if w.Error != nil {
			c.Error = *w.Error
		}
		return c, nil
	case ActionStatus:
		if w.ResponseFor == nil {
			return nil, fail("responseFor", "missing")
		}
		return Status{ResponseFor: *w.ResponseFor}, nil
	case "":
		return nil, fail("action", "empty")
	default:
		return Unknown{Name: *action}, nil
	}
}

// checkRecord is the rule for the i-th record's keys: a sequence number,
// not empty, and a partition key, which may be empty; nil is absent or
// null. (The fast path reads only records whose two keys are strings.) It
// is small enough to inline: the fast path runs it on every record.
func checkRecord(i int, seq, pk *string, f failer) error {
	if seq != nil && *seq != "" && pk != nil {
		return nil
	}
	return f.badRecord(i, seq)
}

// badRecord is the error of a record that checkRecord refused: the
// sequence number's, if it is at fault, else the partition key's.
func (f failer) badRecord(i int, seq *string) error {
	key := "partitionKey"
	if seq == nil || *seq == "" {
		key = "sequenceNumber"
	}
	return f.fail(recordField(i, key), "missing")
}

func recordField(i int, name string) string { return "records[" + strconv.Itoa(i) + "]." + name }

// decode is the slow path: encoding/json, for any line.
func (d *Decoder) decode(line []byte) (Message, error) {
	var w wireMessage
	if err := json.Unmarshal(line, &w); err != nil {
		return nil, jsonError(w.Action, err)
	}
	w.hasRecords = w.Records != nil
	return w.message(w.Action, func(f failer) ([]Record, error) { return d.processRecords(*w.Records, f) })
}

func (d *Decoder) processRecords(wire []wireRecord, f failer) ([]Record, error) {
	size := 0
	for i := range wire {
		if wire[i].Data != nil {
			size += base64.StdEncoding.DecodedLen(len(*wire[i].Data))
		}
	}
	if cap(d.arena) < size {
		d.arena = make([]byte, 0, size)
	}
	arena := d.arena[:0]
	if d.records == nil || cap(d.records) < len(wire) {
		d.records = make([]Record, len(wire))
	}
	records := d.records[:len(wire)]
	for i := range wire {
		wr := &wire[i]
		if err := checkRecord(i, wr.SequenceNumber, wr.PartitionKey, f); err != nil {
			return nil, err
		}
		r := Record{PartitionKey: *wr.PartitionKey, SequenceNumber: *wr.SequenceNumber}
		if wr.SubSequenceNumber != nil {
			r.SubSequenceNumber = *wr.SubSequenceNumber
		}
		if wr.ApproximateArrivalTimestamp != nil {
			r.ApproximateArrivalTimestamp = *wr.ApproximateArrivalTimestamp
		}
		if wr.Data != nil {
			start := len(arena)
			var err error
			arena, err = base64.StdEncoding.AppendDecode(arena, []byte(*wr.Data))
			if err != nil {
				return nil, f.fail(recordField(i, "data"), "%w", err)
			}
			r.Data = arena[start:len(arena):len(arena)]
			if r.Data == nil {
				r.Data = []byte{} // "" is empty data, null is no data
			}
		}
		records[i] = r
	}
	d.arena = arena
	return records, nil
}

// jsonError turns an encoding/json error into a DecodeError naming the field.
func jsonError(action *string, err error) error {
	de := &DecodeError{Err: err}
	if action != nil {
		de.Action = *action
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		de.Field = te.Field
		de.Err = fmt.Errorf("got JSON %s, want %s", te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		de.Err = fmt.Errorf("invalid JSON at byte %d: %w", se.Offset, err)
	}
	return de
}
