package protocol

import (
	"bytes"
	"errors"
	"io"

	"github.com/kclgo/kclgo/protocol/internal/fastjson"
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
// every invalid line, goes to encoding/json (wire.go); both give the same
// messages and the same errors (FuzzFastVsSlow).
type Decoder struct {
	lr      *LineReader
	records []Record
	arena   []byte
	fp      fastjson.Parser
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
			d.lr.release() // a new batch, in the arena: release the last one
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
	d.fp.Reset(false, true)
	if fm, _, st := d.fp.Parse(line); st == fastjson.Done {
		if m, ok := d.fastMessage(fm, line); ok {
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
	p.Reset(true, false)
	need := 1      // run the parser when the unparsed tail is this long
	ended := false // the line's '\n' is in the window
	for {
		win := lr.peek()
		if ended || len(win)-p.Pos() >= need {
			fm, n, st := p.Parse(win)
			switch st {
			case fastjson.Done:
				m, ok := d.fastMessage(fm, win)
				if !ok {
					p.Undo(win)
					return nil, false
				}
				if _, ok := m.(ProcessRecords); ok {
					lr.pin() // its Data alias the window: keep it until the next batch
				}
				lr.advance(n)
				return m, true
			case fastjson.NotMine:
				return nil, false
			}
			if ended {
				// The parser wants more but the line has ended: it is
				// malformed, the slow path will tell how.
				p.Undo(win)
				return nil, false
			}
			// Retry when the tail has doubled: a unit that arrives in many
			// small reads is parsed a bounded number of times.
			need = 2 * (len(win) - p.Pos())
		}
		// Data decoded in place may hold '\n' bytes: look for the line's
		// end only where the parser has not been (it stops before a '\n').
		if _, ok := lr.newline(p.Pos()); ok {
			ended = true
			continue
		}
		if lr.failed() {
			p.Undo(win)
			return nil, false // the end of the input, or an error: ReadLine tells
		}
		if string(p.Action(win)) == ActionProcessRecords {
			// A new batch: the last one's Data are no longer valid, the
			// buffer may move them.
			lr.release()
		}
		lr.fill()
	}
}

// fastMessage builds the message the fast path read in win, by the same
// rules as the slow path ([wireMessage.message]); false when the line is
// the slow path's (it is invalid, or not the fast path's shape).
func (d *Decoder) fastMessage(fm *fastjson.Message, win []byte) (Message, bool) {
	action := actionName(fm.Action)
	if fm.HasRecords && action != ActionProcessRecords {
		// The fast path reads a batch only in processRecords: where the
		// slow path ignores records, it may find them invalid.
		return nil, false
	}
	w := wireMessage{
		ShardID:            newString(fm.ShardID),
		SequenceNumber:     newString(fm.SequenceNumber),
		SubSequenceNumber:  newInt(fm.SubSequenceNumber),
		MillisBehindLatest: newInt(fm.MillisBehindLatest),
		Reason:             newString(fm.Reason),
		Error:              newString(fm.Error),
		ResponseFor:        newString(fm.ResponseFor),
		hasRecords:         fm.HasRecords,
	}
	var actionp *string
	if fm.Action != nil {
		actionp = &action
	}
	m, err := w.message(actionp, func(f failer) ([]Record, error) {
		recs := fastjson.Records[Record](&d.fp, win)
		for i := range recs {
			if err := checkRecord(i, &recs[i].SequenceNumber, &recs[i].PartitionKey, f); err != nil {
				return nil, err
			}
		}
		return recs, nil
	})
	if err != nil {
		return nil, false
	}
	if _, ok := m.(ProcessRecords); ok {
		d.fp.Keep()
	}
	return m, true
}

// actionName returns b as a string, without a copy for the actions the
// daemon sends.
func actionName(b []byte) string {
	switch string(b) {
	case ActionProcessRecords:
		return ActionProcessRecords
	case ActionCheckpoint:
		return ActionCheckpoint
	case ActionInitialize:
		return ActionInitialize
	case ActionLeaseLost:
		return ActionLeaseLost
	case ActionShardEnded:
		return ActionShardEnded
	case ActionShutdownRequested:
		return ActionShutdownRequested
	case ActionShutdown:
		return ActionShutdown
	}
	return string(b)
}

func newString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

func newInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
