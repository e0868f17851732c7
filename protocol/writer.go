package protocol

import (
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// Writer writes messages, exactly one line per message, each with one call
// of the underlying writer's Write (and its Flush, if it has one). It writes
// exactly the fields the daemon knows for each action: the daemon's JSON
// reader rejects a line with an unknown key and then waits forever.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Write writes m as one line.
func (w *Writer) Write(m Message) error {
	w.buf = AppendMessage(w.buf[:0], m)
	w.buf = append(w.buf, '\n')
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("protocol: writing %s: %w", m.Action(), err)
	}
	if f, ok := w.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("protocol: flushing %s: %w", m.Action(), err)
		}
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not keep a large batch's buffer
	}
	return nil
}

// AppendMessage appends m's compact JSON encoding, without a line
// terminator, to dst. The fields are those the daemon writes or reads for
// the action, in the order the daemon writes them; null fields are written
// as null.
func AppendMessage(dst []byte, m Message) []byte {
	dst = append(dst, `{"action":`...)
	dst = appendString(dst, m.Action())
	switch m := m.(type) {
	case Initialize:
		dst = append(dst, `,"shardId":`...)
		dst = appendString(dst, m.ShardID)
		dst = append(dst, `,"sequenceNumber":`...)
		dst = appendOptString(dst, m.SequenceNumber)
		dst = append(dst, `,"subSequenceNumber":`...)
		dst = appendOptInt(dst, m.SubSequenceNumber)
	case ProcessRecords:
		dst = append(dst, `,"records":[`...)
		for i := range m.Records {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendRecord(dst, &m.Records[i])
		}
		dst = append(dst, `],"millisBehindLatest":`...)
		dst = appendOptInt(dst, m.MillisBehindLatest)
	case Shutdown:
		dst = append(dst, `,"reason":`...)
		dst = appendString(dst, m.Reason)
	case Checkpoint:
		dst = append(dst, `,"sequenceNumber":`...)
		dst = appendOptString(dst, m.SequenceNumber)
		dst = append(dst, `,"subSequenceNumber":`...)
		dst = appendOptInt(dst, m.SubSequenceNumber)
		if m.Error != "" {
			dst = append(dst, `,"error":`...)
			dst = appendString(dst, m.Error)
		}
	case Status:
		dst = append(dst, `,"responseFor":`...)
		dst = appendString(dst, m.ResponseFor)
	}
	return append(dst, '}')
}

func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, `{"data":`...)
	if r.Data == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, r.Data)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"partitionKey":`...)
	dst = appendString(dst, r.PartitionKey)
	dst = append(dst, `,"sequenceNumber":`...)
	dst = appendString(dst, r.SequenceNumber)
	dst = append(dst, `,"approximateArrivalTimestamp":`...)
	dst = strconv.AppendInt(dst, r.ApproximateArrivalTimestamp, 10)
	dst = append(dst, `,"subSequenceNumber":`...)
	dst = strconv.AppendInt(dst, r.SubSequenceNumber, 10)
	return append(dst, `,"action":"record"}`...)
}

func appendOptString(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendString(dst, *s)
}

func appendOptInt(dst []byte, n *int64) []byte {
	if n == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, *n, 10)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break some JavaScript readers.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
