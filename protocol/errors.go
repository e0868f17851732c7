package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is matched (with [errors.Is]) by every [DecodeError]: a line
// that is not a well-formed message.
var ErrMalformed = errors.New("malformed message")

// ErrTruncated is returned when the input ends in the middle of a line: the
// other side closed the pipe while writing a message.
var ErrTruncated = errors.New("input ended in the middle of a line")

// DecodeError describes a line that could not be decoded: where it was and
// what was wrong with it.
type DecodeError struct {
	// Line is the 1-based line number in the input, 0 when unknown (a line
	// decoded on its own with [Decode]).
	Line int
	// Action is the message's action, empty when it could not be read.
	Action string
	// Field is the offending field, e.g. "records[3].data", empty when the
	// whole line is at fault.
	Field string
	// Err is the underlying problem.
	Err error
}

// Error implements error, e.g.
// "protocol: line 3: processRecords: field records[3].data: illegal base64 data at input byte 4".
func (e *DecodeError) Error() string {
	var b strings.Builder
	b.WriteString("protocol: ")
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Action != "" {
		b.WriteString(e.Action)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Is reports whether target is [ErrMalformed].
func (e *DecodeError) Is(target error) bool { return target == ErrMalformed }
