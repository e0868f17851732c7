package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Decoder reads messages, one per line, from a stream. Empty lines are
// skipped, as the daemon skips them. Unknown fields are ignored at every
// level; a message with an unknown action decodes as [Unknown].
//
// To avoid an allocation per record, a Decoder reuses its buffers. The
// records of a [ProcessRecords] it returned, and their Data, stay valid until
// the Decoder decodes the next ProcessRecords: the calls of Next in between
// (the checkpoint replies a processor waits for while it still uses its
// records) leave them alone. Record data is decoded in place, into the line
// buffer where its base64 text was: a batch's Data share that one buffer (the
// batch's arena), which is reused, or left to the garbage collector, once the
// next batch arrives. A Record's PartitionKey and SequenceNumber are ordinary
// immutable strings, safe to keep for ever: they are substrings of one string
// per batch (kept in memory as long as any of them is).
//
// A line of the daemon's usual shape is decoded by a fast path, straight
// from the line as it arrives from the pipe, so that decoding overlaps the
// transfer of the rest of a long processRecords line. Anything else, and
// every invalid line, goes to encoding/json; both give the same messages and
// the same errors (FuzzFastVsSlow).
type Decoder struct {
	lr      *LineReader
	records []Record
	arena   []byte
	fp      fastParser
}

// NewDecoder returns a Decoder reading from r. If r is an [*os.File] on a
// pipe (a child's stdin), on Linux NewDecoder asks for a 1 MiB pipe buffer
// (F_SETPIPE_SZ), so that the daemon can write ahead while the Decoder
// decodes; it goes on with the pipe as it is if that fails.
func NewDecoder(r io.Reader) *Decoder {
	growPipe(r)
	return &Decoder{lr: NewLineReader(r)}
}

// Next returns the next message. At a clean end of input it returns
// [io.EOF]; when the input ends in the middle of a line, an error matching
// [ErrTruncated]. A line that is not a valid message gives a [*DecodeError]
// naming the line number; the Decoder can go on with the next line.
func (d *Decoder) Next() (Message, error) {
	for {
		if m, ok := d.nextFast(); ok {
			return m, nil
		}
		line, err := d.lr.ReadLine()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		m, err := d.decode(line)
		if _, ok := m.(ProcessRecords); ok {
			d.lr.held = 0 // a new batch, in the arena: release the last one
		}
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) {
				de.Line = d.lr.Line()
			}
			return nil, err
		}
		return m, nil
	}
}

// Line returns the 1-based number of the last line read.
func (d *Decoder) Line() int { return d.lr.Line() }

// Decode decodes one line (without its terminator). Unlike [Decoder.Next]
// the result shares no memory with the decoder: it is the caller's.
func Decode(line []byte) (Message, error) {
	var d Decoder
	d.fp.reset(false, true)
	if d.fp.run(line) == stepOK {
		if m, ok := d.fp.message(&d, line); ok {
			return m, nil
		}
	}
	return d.decode(line)
}

// nextFast decodes the next line with the fast path, as its bytes arrive:
// the records at the start of a long processRecords line are decoded while
// the rest is still in the pipe. It returns false, having consumed nothing
// and with the line's bytes as they were, when the line needs the slow path
// (or there is no complete line: an error or the end of the input).
func (d *Decoder) nextFast() (Message, bool) {
	lr, p := d.lr, &d.fp
	p.reset(true, false)
	need := 1      // run the parser when the unparsed tail is this long
	ended := false // the line's '\n' is in the buffer
	for {
		buf := lr.buf[lr.start:lr.end]
		if ended || len(buf)-p.pos >= need {
			switch p.run(buf) {
			case stepOK:
				m, ok := p.message(d, buf)
				if !ok {
					p.restore(buf)
					return nil, false
				}
				if _, ok := m.(ProcessRecords); ok {
					// Its Data alias buf: hold it until the next batch.
					lr.held = lr.start + 1
				}
				lr.start += p.end + 1
				lr.scanned = lr.start
				lr.line++
				return m, true
			case stepBail:
				p.restore(buf)
				return nil, false
			}
			if ended {
				// The parser wants more but the line has ended: it is
				// malformed, the slow path will tell how.
				p.restore(buf)
				return nil, false
			}
			// Retry when the tail has doubled: a unit that arrives in many
			// small reads is parsed a bounded number of times.
			need = 2 * (len(buf) - p.pos)
		}
		// Data decoded in place may hold '\n' bytes: look for the line's
		// end only where the parser has not been (it stops before a '\n').
		if lr.scanned < lr.start+p.pos {
			lr.scanned = lr.start + p.pos
		}
		if bytes.IndexByte(lr.buf[lr.scanned:lr.end], '\n') >= 0 {
			ended = true
			continue
		}
		if lr.err != nil {
			p.restore(buf)
			return nil, false // the end of the input, or an error: ReadLine tells
		}
		if lr.held > 0 && p.seen&kAction != 0 && string(buf[p.action.off:p.action.end]) == ActionProcessRecords {
			// A new batch: the last one's Data are no longer valid, the
			// buffer may move them.
			lr.held = 0
		}
		lr.scanned = lr.end
		lr.fill()
	}
}

// wireMessage has a field for every key of every action; decode checks which
// ones the action needs.
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
}

type wireRecord struct {
	Data                        *string `json:"data"`
	PartitionKey                *string `json:"partitionKey"`
	SequenceNumber              *string `json:"sequenceNumber"`
	ApproximateArrivalTimestamp *int64  `json:"approximateArrivalTimestamp"`
	SubSequenceNumber           *int64  `json:"subSequenceNumber"`
}

func (d *Decoder) decode(line []byte) (Message, error) {
	var w wireMessage
	if err := json.Unmarshal(line, &w); err != nil {
		return nil, jsonError(w.Action, err)
	}
	if w.Action == nil {
		return nil, &DecodeError{Field: "action", Err: errors.New("missing")}
	}
	action := *w.Action
	fail := func(field, format string, args ...any) error {
		return &DecodeError{Action: action, Field: field, Err: fmt.Errorf(format, args...)}
	}
	switch action {
	case ActionInitialize:
		if w.ShardID == nil {
			return nil, fail("shardId", "missing")
		}
		return Initialize{ShardID: *w.ShardID, SequenceNumber: w.SequenceNumber, SubSequenceNumber: w.SubSequenceNumber}, nil
	case ActionProcessRecords:
		if w.Records == nil {
			return nil, fail("records", "missing")
		}
		return d.processRecords(*w.Records, w.MillisBehindLatest, fail)
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
		return Unknown{Name: action}, nil
	}
}

func (d *Decoder) processRecords(wire []wireRecord, millis *int64, fail func(field, format string, args ...any) error) (Message, error) {
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
		field := func(name string) string { return "records[" + strconv.Itoa(i) + "]." + name }
		if wr.SequenceNumber == nil || *wr.SequenceNumber == "" {
			return nil, fail(field("sequenceNumber"), "missing")
		}
		if wr.PartitionKey == nil {
			return nil, fail(field("partitionKey"), "missing")
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
				return nil, fail(field("data"), "%w", err)
			}
			r.Data = arena[start:len(arena):len(arena)]
			if r.Data == nil {
				r.Data = []byte{} // "" is empty data, null is no data
			}
		}
		records[i] = r
	}
	d.arena = arena
	return ProcessRecords{Records: records, MillisBehindLatest: millis}, nil
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
