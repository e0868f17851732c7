package kcltest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kclgo/kclgo/protocol"
)

// Line is one line of a conversation.
type Line struct {
	// FromChild is true for a line the child wrote, false for the daemon's.
	FromChild bool
	// Raw is the line as written, without its terminator.
	Raw string
	// Message is the decoded message; nil for a child line the real daemon
	// would skip (not JSON, not a status or checkpoint, or with a key the
	// daemon does not know).
	Message protocol.Message
}

// String describes the line in the form [Transcript.Summary] uses.
func (l Line) String() string {
	dir := "> "
	if l.FromChild {
		dir = "< "
	}
	if l.Message == nil {
		if strings.TrimSpace(l.Raw) == "" {
			return dir + "(empty line)"
		}
		return dir + "(skipped) " + l.Raw
	}
	switch m := l.Message.(type) {
	case protocol.Status:
		return dir + "status " + m.ResponseFor
	case protocol.Checkpoint:
		p := "null"
		if m.SequenceNumber != nil {
			p = *m.SequenceNumber
			if m.SubSequenceNumber != nil {
				p += fmt.Sprintf("/%d", *m.SubSequenceNumber)
			}
		}
		if !l.FromChild {
			result := "ok"
			if m.Error != "" {
				result = m.Error
			}
			return dir + "checkpoint " + result
		}
		return dir + "checkpoint " + p
	case protocol.ProcessRecords:
		return fmt.Sprintf("%sprocessRecords %d", dir, len(m.Records))
	case protocol.Shutdown:
		return dir + "shutdown " + m.Reason
	}
	return dir + l.Message.Action()
}

// Transcript is a conversation, in order.
type Transcript []Line

// Summary returns one short line per line exchanged, for assertions:
// "> initialize", "< status initialize", "> processRecords 3",
// "< checkpoint 12/0" (or "< checkpoint null"), "> checkpoint ok" (or the
// exception name), "< (skipped) some stray output".
func (t Transcript) Summary() []string {
	out := make([]string, len(t))
	for i, l := range t {
		out[i] = l.String()
	}
	return out
}

// String returns the summary, one line per line.
func (t Transcript) String() string { return strings.Join(t.Summary(), "\n") }

// FromChild returns the lines the child wrote.
func (t Transcript) FromChild() Transcript {
	var out Transcript
	for _, l := range t {
		if l.FromChild {
			out = append(out, l)
		}
	}
	return out
}

// topLevelKeys returns the keys of a JSON object.
func topLevelKeys(line string) ([]string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	return keys, nil
}
