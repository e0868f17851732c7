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

// Checkpoint is one checkpoint the child asked for, with the daemon's reply.
type Checkpoint struct {
	// SequenceNumber is the position the child asked for; "" when it asked
	// for none (a checkpoint after the last record delivered, or the end of
	// the shard).
	SequenceNumber string
	// SubSequenceNumber is the position's sub-sequence number; 0 when the
	// child sent none.
	SubSequenceNumber int64
	// During is the action the checkpoint was made in: "processRecords",
	// "shardEnded", "shutdownRequested", "shutdown" (KCL 1.x), or another
	// action when the child checkpointed where it may not.
	During string
	// Error is the exception name the daemon replied with, e.g.
	// "ThrottlingException"; "" when the checkpoint was accepted.
	Error string
	// Answered is false when the conversation ended before the daemon's
	// reply.
	Answered bool
}

// Checkpoints returns every checkpoint the child asked for, in order, each
// with the daemon's reply; [Transcript.Accepted] returns only those the
// daemon accepted.
func (t Transcript) Checkpoints() []Checkpoint {
	var out []Checkpoint
	during := ""
	for _, l := range t {
		switch m := l.Message.(type) {
		case nil, protocol.Status:
		case protocol.Checkpoint:
			if !l.FromChild {
				if n := len(out); n > 0 && !out[n-1].Answered {
					out[n-1].Error, out[n-1].Answered = m.Error, true
				}
				continue
			}
			c := Checkpoint{During: during}
			if m.SequenceNumber != nil {
				c.SequenceNumber = *m.SequenceNumber
			}
			if m.SubSequenceNumber != nil {
				c.SubSequenceNumber = *m.SubSequenceNumber
			}
			out = append(out, c)
		default:
			if !l.FromChild {
				during = m.Action()
			}
		}
	}
	return out
}

// Accepted returns the checkpoints the daemon accepted, in order.
func (t Transcript) Accepted() []Checkpoint {
	var out []Checkpoint
	for _, c := range t.Checkpoints() {
		if c.Answered && c.Error == "" {
			out = append(out, c)
		}
	}
	return out
}

// Processed returns how many records the child acknowledged: those of every
// processRecords it answered with a status.
func (t Transcript) Processed() int {
	n, pending := 0, 0
	for _, l := range t {
		switch m := l.Message.(type) {
		case protocol.ProcessRecords:
			if !l.FromChild {
				pending = len(m.Records)
			}
		case protocol.Status:
			if l.FromChild && m.ResponseFor == protocol.ActionProcessRecords {
				n += pending
				pending = 0
			}
		}
	}
	return n
}
