package fastjson

import "math"

// Parser is the fast path: it reads the common shape of a message, the one
// the daemon writes, straight from the line: no intermediate strings,
// base64 decoded from the line's bytes, partition keys and sequence numbers
// of a whole batch in one string. It accepts a strict subset of JSON and
// reads it as encoding/json would; on anything else (string escapes,
// non-integer numbers, keys that differ from a known one only in case,
// duplicate keys, a deep unknown value, any error) it gives up: [NotMine],
// and the caller decodes the line with its slow path, which also gives the
// errors. protocol's FuzzFastVsSlow checks that both agree.
//
// The parser is resumable: it can run on a prefix of a line while the rest
// is still arriving. It commits its progress after each unit (a top-level
// member, or one record); when the window ends inside a unit it reports
// [More] and the caller runs it again on a longer window, which redoes only
// that unit.
//
// The zero Parser is ready for [Parser.Reset]. A Parser is not safe for
// concurrent use.
type Parser struct {
	inPlace  bool // decode record data into the line itself (the caller's own buffer)
	complete bool // the window holds the whole line, without its terminator

	state int
	pos   int // where the next unit starts
	end   int // the line's end (the '\n'), once sDone; len(buf) when complete

	seen                                                 uint16
	action, shardID, seqNum, reason, errStr, responseFor span
	subSeq, millis                                       int64
	subSeqNull, millisNull                               bool
	msg                                                  Message

	// records is the batch being parsed; live is the array of the batch
	// last kept ([Parser.Keep]), which must not change until the next batch
	// is kept (a line with a "records" key that is not that batch, e.g. a
	// checkpoint reply, parses into records, never into live).
	records []record
	live    []record
	recs    []fastRec
	// keys holds the batch's partition keys and sequence numbers, which are
	// strings over it (unsafe.String): a new one for each batch, only ever
	// appended to, so that its bytes never change while a string refers to
	// them. keysHint is the last batch's size.
	keys     []byte
	keysHint int
	arena    []byte // decoded data when not in place
	scratch  []byte // one record's decoded data before it is copied in place
}

// Status is what [Parser.Parse] made of a window.
type Status uint8

const (
	// Done: the line is parsed; the message and the bytes it used are
	// returned.
	Done Status = iota
	// More: the window ends inside the line; call Parse again with a longer
	// window that starts at the same byte.
	More
	// NotMine: the line is not of the shape the fast path reads, or not
	// valid. The window is as it was; decode the line with the slow path.
	NotMine
)

// Message is a line's top-level members as the fast path read them. The
// byte slices alias the window (valid while it is unchanged), nil when the
// member was absent or null; the integers point into the Parser (valid
// until the next Reset), nil when absent or null. The records are read with
// [Records].
type Message struct {
	Action, ShardID, SequenceNumber, Reason, Error, ResponseFor []byte
	SubSequenceNumber, MillisBehindLatest                       *int64
	// HasRecords reports a "records" array (null is not mine).
	HasRecords bool
}

// Reset prepares p for a new line, keeping its buffers. inPlace: decode
// record data into the window itself, where its base64 text was (the
// caller owns the window's bytes and keeps them as long as the records'
// Data). complete: each window is the whole line without its terminator;
// otherwise the windows are the line so far, and may go past its '\n'.
func (p *Parser) Reset(inPlace, complete bool) {
	hint := len(p.keys) // the last batch's size, or the one before
	if hint == 0 {
		hint = p.keysHint
	}
	*p = Parser{inPlace: inPlace, complete: complete, records: p.records[:0], live: p.live, recs: p.recs[:0], keysHint: hint, arena: p.arena[:0], scratch: p.scratch}
}

// Parse parses as much of the line as win holds. win starts at the line's
// first byte; each call after More passes the same bytes and more. Done
// returns the message and n, the bytes of win the line used (with its
// '\n' unless complete). After Done or More, [Parser.Undo] gives the window
// back as it was, should the caller not take the line.
func (p *Parser) Parse(win []byte) (m *Message, n int, st Status) {
	switch p.run(win) {
	case stepOK:
		p.msg = Message{
			Action:             p.bytesOf(win, kAction, p.action),
			ShardID:            p.bytesOf(win, kShardID, p.shardID),
			SequenceNumber:     p.bytesOf(win, kSequenceNumber, p.seqNum),
			Reason:             p.bytesOf(win, kReason, p.reason),
			Error:              p.bytesOf(win, kError, p.errStr),
			ResponseFor:        p.bytesOf(win, kResponseFor, p.responseFor),
			SubSequenceNumber:  p.intOf(kSubSequenceNumber, &p.subSeq, p.subSeqNull),
			MillisBehindLatest: p.intOf(kMillisBehindLatest, &p.millis, p.millisNull),
			HasRecords:         p.seen&kRecords != 0,
		}
		n = p.end
		if !p.complete {
			n++ // the '\n'
		}
		return &p.msg, n, Done
	case stepMore:
		return nil, 0, More
	}
	p.Undo(win)
	return nil, 0, NotMine
}

// Undo re-encodes the record data decoded in place, so that the window
// reads as it was (the same base64 up to its non-significant bits) for the
// slow path.
func (p *Parser) Undo(win []byte) { p.restore(win) }

// Pos is where the parser has got to in the window: the caller looks for
// the line's '\n' only after it (data decoded in place may hold '\n'
// bytes; the parser stops before a '\n').
func (p *Parser) Pos() int { return p.pos }

// Action is the line's action once the parser has read it, nil before.
func (p *Parser) Action(win []byte) []byte { return p.bytesOf(win, kAction, p.action) }

func (p *Parser) bytesOf(win []byte, bit uint16, sp span) []byte {
	if p.seen&bit == 0 || sp.off < 0 {
		return nil
	}
	return win[sp.off:sp.end:sp.end]
}

func (p *Parser) intOf(bit uint16, v *int64, null bool) *int64 {
	if p.seen&bit == 0 || null {
		return nil
	}
	return v
}

type step uint8

const (
	stepOK   step = iota
	stepMore      // the input ended inside the unit: give more and run again
	stepBail      // not the common shape (or not valid): use the slow path
)

// parser states: what the next unit is.
const (
	sObject      = iota // before the opening '{'
	sFirstMember        // after '{': a member or '}'
	sMember             // after ',': a member
	sAfterMember        // ',' or '}'
	sFirstRecord        // after "records":[ : a record or ']'
	sRecord             // after ',' in records: a record
	sAfterRecord        // ',' or ']'
	sTrail              // after the closing '}': white space, then the end of the line
	sDone
)

// top-level keys, as bits of Parser.seen.
const (
	kAction = 1 << iota
	kShardID
	kSequenceNumber
	kSubSequenceNumber
	kRecords
	kMillisBehindLatest
	kReason
	kError
	kResponseFor
)

// run parses as far as buf allows. buf is the line so far (from its first
// byte); in streaming mode it may go past the line's end. stepOK means the
// line is done: p.end is the index of its end.
func (p *Parser) run(buf []byte) step {
	if len(buf) >= math.MaxInt32 {
		return stepBail
	}
	for {
		i := skipSpace(buf, p.pos)
		if i >= len(buf) {
			if p.state == sTrail && p.complete {
				p.end = len(buf)
				p.state = sDone
				return stepOK
			}
			return p.more()
		}
		c := buf[i]
		switch p.state {
		case sObject:
			if c != '{' {
				return stepBail
			}
			p.pos, p.state = i+1, sFirstMember
		case sFirstMember, sMember:
			if c == '}' && p.state == sFirstMember {
				p.pos, p.state = i+1, sTrail
				continue
			}
			st := p.member(buf, i)
			if st != stepOK {
				return p.fail(st)
			}
		case sAfterMember:
			switch c {
			case ',':
				p.pos, p.state = i+1, sMember
			case '}':
				p.pos, p.state = i+1, sTrail
			default:
				return stepBail
			}
		case sFirstRecord, sRecord:
			if c == ']' && p.state == sFirstRecord {
				p.pos, p.state = i+1, sAfterMember
				continue
			}
			st := p.record(buf, i)
			if st != stepOK {
				return p.fail(st)
			}
		case sAfterRecord:
			switch c {
			case ',':
				p.pos, p.state = i+1, sRecord
			case ']':
				p.pos, p.state = i+1, sAfterMember
			default:
				return stepBail
			}
		case sTrail:
			if c == '\n' && !p.complete {
				p.end = i
				p.state = sDone
				return stepOK
			}
			return stepBail
		default:
			return stepBail
		}
	}
}

func (p *Parser) more() step {
	if p.complete {
		return stepBail
	}
	return stepMore
}

func (p *Parser) fail(st step) step {
	if st == stepMore {
		return p.more()
	}
	return st
}

// member parses one top-level member at buf[i]; the "records" member only
// up to its '['.
func (p *Parser) member(buf []byte, i int) step {
	key, j, st := memberKey(buf, i)
	if st != stepOK {
		return st
	}
	var bit uint16
	switch string(key) {
	case "action":
		bit = kAction
		p.action, j, st = str(buf, j) // null is an error: slow path
	case "shardId":
		bit = kShardID
		p.shardID, j, st = optStr(buf, j)
	case "sequenceNumber":
		bit = kSequenceNumber
		p.seqNum, j, st = optStr(buf, j)
	case "subSequenceNumber":
		bit = kSubSequenceNumber
		p.subSeq, p.subSeqNull, j, st = integer(buf, j)
	case "millisBehindLatest":
		bit = kMillisBehindLatest
		p.millis, p.millisNull, j, st = integer(buf, j)
	case "reason":
		bit = kReason
		p.reason, j, st = optStr(buf, j)
	case "error":
		bit = kError
		p.errStr, j, st = optStr(buf, j)
	case "responseFor":
		bit = kResponseFor
		p.responseFor, j, st = optStr(buf, j)
	case "records":
		if p.seen&kRecords != 0 || buf[j] != '[' {
			return stepBail // null or not an array: an error, or a second one
		}
		p.seen |= kRecords
		p.pos, p.state = j+1, sFirstRecord
		return stepOK
	default:
		if foldsTo(key, "action", "shardId", "sequenceNumber", "subSequenceNumber", "records", "millisBehindLatest", "reason", "error", "responseFor") {
			return stepBail
		}
		j, st = skipValue(buf, j, 0)
	}
	if st != stepOK {
		return st
	}
	if p.seen&bit != 0 {
		return stepBail // a duplicate key: the last one wins in encoding/json
	}
	p.seen |= bit
	p.pos, p.state = j, sAfterMember
	return stepOK
}
