package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/bits"
	"unicode/utf8"
	"unsafe"

	simdbase64 "github.com/segmentio/asm/base64"
)

// b64 decodes record data on the fast path. segmentio/asm's decoder runs
// AVX2 (amd64) or NEON (arm64) code over the valid 32-byte blocks and hands
// the rest to encoding/base64: on valid input its result is encoding/base64's
// (FuzzBase64 checks it), 8 times as fast on 10 KiB records and 1.5 times on
// 100 B ones. The slow path keeps encoding/base64.
var b64 = simdbase64.StdEncoding

// b64Map maps a base64 character to its value, 0xff for others.
var b64Map = func() (m [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range m {
		m[i] = 0xff
	}
	for i := range len(alphabet) {
		m[alphabet[i]] = byte(i)
	}
	return m
}()

// b64Decode decodes padded standard base64 with nothing else in it (no
// '\r' or '\n', which encoding/base64 skips), giving encoding/base64's
// result. The last quantum, which may hold padding, is decoded here: given
// padding, encoding/base64 (which decodes what the SIMD code leaves) falls
// back to a slow loop for the last 8 characters, a third of the time of a
// 100-byte record. dst needs slack bytes more than the result.
func b64Decode(dst, src []byte) (int, bool) {
	if len(src) == 0 {
		return 0, true
	}
	if len(src)%4 != 0 {
		return 0, false
	}
	body := src[:len(src)-4]
	n := 0
	if len(body) < 64 {
		// Too short for the SIMD code: a call of encoding/base64 costs
		// more than these few quanta.
		for ; len(body) >= 4; body = body[4:] {
			a, b, c, d := b64Map[body[0]], b64Map[body[1]], b64Map[body[2]], b64Map[body[3]]
			if a|b|c|d == 0xff {
				return 0, false
			}
			v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
			dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
			n += 3
		}
	} else {
		var err error
		n, err = b64.Decode(dst, body)
		if err != nil || n != len(body)/4*3 {
			return 0, false
		}
	}
	q := src[len(src)-4:]
	a, b, c, d := b64Map[q[0]], b64Map[q[1]], b64Map[q[2]], b64Map[q[3]]
	if a|b == 0xff {
		return 0, false
	}
	v := uint32(a)<<18 | uint32(b)<<12
	switch {
	case q[3] != '=':
		if c|d == 0xff {
			return 0, false
		}
		v |= uint32(c)<<6 | uint32(d)
		dst[n], dst[n+1], dst[n+2] = byte(v>>16), byte(v>>8), byte(v)
		return n + 3, true
	case q[2] != '=':
		if c == 0xff {
			return 0, false
		}
		v |= uint32(c) << 6
		dst[n], dst[n+1] = byte(v>>16), byte(v>>8)
		return n + 2, true
	default:
		dst[n] = byte(v >> 16)
		return n + 1, true
	}
}

// b64DecodeAt decodes the base64 text buf[off:end] into dst, as b64Decode
// does; buf[end] is the closing quote, if any. The leading 32-character
// blocks go to AVX2 when there is one (b64Blocks), which segmentio/asm's
// Decode would leave to encoding/base64 for short records.
func b64DecodeAt(dst, buf []byte, off, end int) (int, bool) {
	d, s := b64Blocks(dst, buf, off, end)
	n, ok := b64Decode(dst[d:], buf[off+s:end])
	return d + n, ok
}

// The fast path.
//
// fastParser decodes the common shape of a message, the one the daemon
// writes, straight from the line: no intermediate strings, base64 decoded
// from the line's bytes, partition keys and sequence numbers of a whole
// batch in one string. It accepts a strict subset of what the slow path
// (encoding/json into wireMessage, see decode.go) accepts and gives the same
// result on it; on anything else (string escapes, non-integer numbers, keys
// that differ from a known one only in case, duplicate keys, a deep unknown
// value, any error) it gives up ("bails") and the caller decodes the whole
// line with the slow path, which also gives the errors. FuzzFastVsSlow checks
// that both agree.
//
// The parser is resumable: it can run on a prefix of a line while the rest
// is still arriving. It commits its progress after each unit (a top-level
// member, or one record); when the input ends inside a unit it reports
// stepMore and the caller reruns it on a longer prefix, which redoes only
// that unit.

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

// top-level keys, as bits of fastParser.seen.
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

// record keys, as bits of a record's seen mask.
const (
	rData = 1 << iota
	rPartitionKey
	rSequenceNumber
	rApproximateArrivalTimestamp
	rSubSequenceNumber
)

// span is a string value in the line: [off, end). off < 0 for null.
type span struct{ off, end int }

// recValues are a record's values while it is parsed.
type recValues struct {
	data    span // the base64 text in the line, off < 0 for null
	ts, sub int64
}

// fastRec is what the parser keeps of a committed record besides its
// Record: where its data was and where it went (offsets fit in 32 bits: the
// fast path leaves lines of 2 GiB and more to the slow path).
type fastRec struct {
	dataOff, dataEnd int32 // the base64 text in the line, dataOff < 0 for null
	outOff, outEnd   int32 // the decoded data, in the line (in place) or in the arena
	decodedInLine    bool  // out overwrote data's bytes in the line
}

type fastParser struct {
	inPlace  bool // decode record data into the line itself (the Decoder's own buffer)
	complete bool // the buffer holds the whole line, without its terminator

	state int
	pos   int // where the next unit starts
	end   int // the line's end (the '\n'), once sDone; len(buf) when complete

	seen                                                 uint16
	action, shardID, seqNum, reason, errStr, responseFor span
	subSeq, millis                                       int64
	subSeqNull, millisNull                               bool

	// records is the batch being parsed; live is the array of the batch
	// last returned, which must not change until the next batch is
	// returned (a line with a "records" key that is not that batch, e.g. a
	// checkpoint reply, parses into records, never into live).
	records []Record
	live    []Record
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

// reset prepares p for a new line, keeping its buffers.
func (p *fastParser) reset(inPlace, complete bool) {
	hint := len(p.keys) // the last batch's size, or the one before
	if hint == 0 {
		hint = p.keysHint
	}
	*p = fastParser{inPlace: inPlace, complete: complete, records: p.records[:0], live: p.live, recs: p.recs[:0], keysHint: hint, arena: p.arena[:0], scratch: p.scratch}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special is non-zero if one of w's bytes is '"', '\\', below 0x20 or
// above 0x7f.
func special(w uint64) uint64 {
	quote := w ^ (lsb * '"')
	bslash := w ^ (lsb * '\\')
	return ((quote-lsb)&^quote | (bslash-lsb)&^bslash | (w-lsb*0x20)&^w | w) & msb
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func skipSpace(buf []byte, i int) int {
	for i < len(buf) && isSpace(buf[i]) {
		i++
	}
	return i
}

// run parses as far as buf allows. buf is the line so far (from its first
// byte); in streaming mode it may go past the line's end. stepOK means the
// line is done: p.end is the index of its end.
func (p *fastParser) run(buf []byte) step {
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

func (p *fastParser) more() step {
	if p.complete {
		return stepBail
	}
	return stepMore
}

func (p *fastParser) fail(st step) step {
	if st == stepMore {
		return p.more()
	}
	return st
}

// str scans a string at buf[i] (which must be '"') with no escapes and valid
// UTF-8; it returns the content's span and the index after the closing
// quote.
func str(buf []byte, i int) (span, int, step) {
	if buf[i] != '"' {
		return span{}, 0, stepBail
	}
	nonASCII := false
	j := i + 1
	for ; j+8 <= len(buf); j += 8 {
		m := special(binary.LittleEndian.Uint64(buf[j:]))
		if m == 0 {
			continue
		}
		// The lowest flagged byte is the first special one: the borrows
		// that can flag a byte wrongly only go upwards from a special one.
		k := j + bits.TrailingZeros64(m)/8
		if buf[k] == '"' {
			return span{i + 1, k}, k + 1, stepOK
		}
		j = k
		break
	}
	for ; j < len(buf); j++ {
		c := buf[j]
		if c == '"' {
			if nonASCII && !utf8.Valid(buf[i+1:j]) {
				return span{}, 0, stepBail // encoding/json would replace bad bytes
			}
			return span{i + 1, j}, j + 1, stepOK
		}
		if c < 0x20 || c == '\\' {
			return span{}, 0, stepBail
		}
		if c >= 0x80 {
			nonASCII = true
		}
	}
	return span{}, 0, stepMore
}

// optStr reads a string or null at buf[i].
func optStr(buf []byte, i int) (span, int, step) {
	if buf[i] == 'n' {
		j, st := literal(buf, i, "null")
		return span{-1, -1}, j, st
	}
	return str(buf, i)
}

func literal(buf []byte, i int, lit string) (int, step) {
	n := len(lit)
	if len(buf)-i < n {
		if string(buf[i:]) == lit[:len(buf)-i] {
			return 0, stepMore
		}
		return 0, stepBail
	}
	if string(buf[i:i+n]) != lit {
		return 0, stepBail
	}
	return i + n, stepOK
}

// integer reads a JSON integer that fits in int64 without doubt (at most 18
// digits), or null. Anything else (fractions, exponents, huge numbers) is
// left to the slow path.
func integer(buf []byte, i int) (v int64, null bool, next int, st step) {
	if buf[i] == 'n' {
		j, st := literal(buf, i, "null")
		return 0, true, j, st
	}
	j := i
	neg := false
	if buf[j] == '-' {
		neg = true
		j++
		if j >= len(buf) {
			return 0, false, 0, stepMore
		}
	}
	start := j
	switch c := buf[j]; {
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		// Up to 16 digits in two words (timestamps have 13).
		if j+16 <= len(buf) {
			w := binary.LittleEndian.Uint64(buf[j:])
			k := leadingDigits(w)
			v = int64(digits(w, k))
			j += k
			if k == 8 {
				w = binary.LittleEndian.Uint64(buf[j:])
				k = leadingDigits(w)
				v = v*pow10[k] + int64(digits(w, k))
				j += k
			}
		}
		for j < len(buf) && buf[j] >= '0' && buf[j] <= '9' {
			v = v*10 + int64(buf[j]-'0')
			j++
			if j-start > 18 {
				return 0, false, 0, stepBail
			}
		}
	default:
		return 0, false, 0, stepBail
	}
	if j >= len(buf) {
		return 0, false, 0, stepMore
	}
	if c := buf[j]; c == '.' || c == 'e' || c == 'E' || (c >= '0' && c <= '9') {
		return 0, false, 0, stepBail
	}
	if neg {
		v = -v
	}
	return v, false, j, stepOK
}

// fixedInt reads a non-negative integer of at most 15 digits, not null, at
// buf[i], for recordFixed: its caller checks that a literal that starts
// with ',' follows, so fixedInt need not look at the byte after the digits
// (a fraction, an exponent or a leading zero fails that check, and the
// general parser, which bails on them, takes the record). Anything else it
// leaves to integer.
func fixedInt(buf []byte, i int) (int64, int, step) {
	if i >= 0 && len(buf)-i >= 16 {
		b := buf[i : i+16]
		if c := b[0]; c == '0' {
			return 0, i + 1, stepOK
		}
		w := binary.LittleEndian.Uint64(b)
		k := leadingDigits(w)
		if k > 0 && k < 8 {
			return int64(digits(w, k)), i + k, stepOK
		}
		if k == 8 {
			v, _ := eightDigits(w)
			w = binary.LittleEndian.Uint64(b[8:])
			if k = leadingDigits(w); k < 8 {
				return int64(v)*pow10[k] + int64(digits(w, k)), i + 8 + k, stepOK
			}
		}
	}
	v, _, next, st := integer(buf, i)
	return v, next, st
}

var pow10 = [9]int64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// leadingDigits returns how many of w's bytes, from the lowest, are ASCII
// digits.
func leadingDigits(w uint64) int {
	x := (w & 0xf0f0f0f0f0f0f0f0) ^ 0x3030303030303030
	x |= ((w + 0x0606060606060606) & 0xf0f0f0f0f0f0f0f0) ^ 0x3030303030303030
	// Flag the non-zero bytes of x; a carry can flag a byte wrongly, but
	// only above a rightly flagged one.
	m := ((x & 0x7f7f7f7f7f7f7f7f) + 0x7f7f7f7f7f7f7f7f | x) & msb
	return bits.TrailingZeros64(m) / 8
}

// digits returns the value of w's lowest k bytes, ASCII digits.
func digits(w uint64, k int) uint64 {
	if k == 0 {
		return 0
	}
	// Shift the k digits to the top and fill the bottom with '0's.
	s := uint(8 * (8 - k))
	v, _ := eightDigits(w<<s | 0x3030303030303030>>(64-s)&(1<<s-1))
	return v
}

// eightDigits parses 8 ASCII digits, the first in the lowest byte.
func eightDigits(w uint64) (uint64, bool) {
	if w&0xf0f0f0f0f0f0f0f0 != 0x3030303030303030 || (w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0 != 0x3030303030303030 {
		return 0, false
	}
	w -= 0x3030303030303030
	w = (w * 10) + (w >> 8)
	w = ((w & 0x000000ff000000ff) * 0x000f424000000064) + (((w >> 16) & 0x000000ff000000ff) * 0x0000271000000001)
	return w >> 32, true
}

// skipValue skips any JSON value the fast path can check exactly: strings
// without escapes, numbers, literals, and arrays and objects of those.
func skipValue(buf []byte, i, depth int) (int, step) {
	if depth > 64 {
		return 0, stepBail
	}
	switch c := buf[i]; {
	case c == '"':
		_, j, st := str(buf, i)
		return j, st
	case c == 'n':
		return literal(buf, i, "null")
	case c == 't':
		return literal(buf, i, "true")
	case c == 'f':
		return literal(buf, i, "false")
	case c == '-' || (c >= '0' && c <= '9'):
		return number(buf, i)
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		j := skipSpace(buf, i+1)
		if j >= len(buf) {
			return 0, stepMore
		}
		if buf[j] == closer {
			return j + 1, stepOK
		}
		for {
			var st step
			if c == '{' {
				if _, j, st = str(buf, j); st != stepOK {
					return 0, st
				}
				if j = skipSpace(buf, j); j >= len(buf) {
					return 0, stepMore
				}
				if buf[j] != ':' {
					return 0, stepBail
				}
				if j = skipSpace(buf, j+1); j >= len(buf) {
					return 0, stepMore
				}
			}
			if j, st = skipValue(buf, j, depth+1); st != stepOK {
				return 0, st
			}
			if j = skipSpace(buf, j); j >= len(buf) {
				return 0, stepMore
			}
			switch buf[j] {
			case ',':
				if j = skipSpace(buf, j+1); j >= len(buf) {
					return 0, stepMore
				}
			case closer:
				return j + 1, stepOK
			default:
				return 0, stepBail
			}
		}
	}
	return 0, stepBail
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func number(buf []byte, i int) (int, step) {
	j := i
	digits := func() int {
		k := j
		for j < len(buf) && buf[j] >= '0' && buf[j] <= '9' {
			j++
		}
		return j - k
	}
	if buf[j] == '-' {
		j++
	}
	if j >= len(buf) {
		return 0, stepMore
	}
	if buf[j] == '0' {
		j++
	} else if digits() == 0 {
		return 0, stepBail
	}
	if j < len(buf) && buf[j] == '.' {
		j++
		if digits() == 0 {
			if j >= len(buf) {
				return 0, stepMore
			}
			return 0, stepBail
		}
	}
	if j < len(buf) && (buf[j] == 'e' || buf[j] == 'E') {
		j++
		if j < len(buf) && (buf[j] == '+' || buf[j] == '-') {
			j++
		}
		if digits() == 0 {
			if j >= len(buf) {
				return 0, stepMore
			}
			return 0, stepBail
		}
	}
	if j >= len(buf) {
		return 0, stepMore // more digits may follow
	}
	return j, stepOK
}

// foldsTo reports whether key equals one of names ignoring ASCII case.
// encoding/json matches keys case-insensitively; the fast path handles only
// exact matches and leaves the rest to the slow path.
func foldsTo(key []byte, names ...string) bool {
	for _, b := range key {
		if b >= utf8.RuneSelf {
			return true // Unicode folding (e.g. U+212A KELVIN SIGN): let the slow path decide
		}
	}
	for _, n := range names {
		if bytes.EqualFold(key, []byte(n)) {
			return true
		}
	}
	return false
}

// memberKey reads `"key" :` and the space after it; it returns the key and
// the index of the value.
func memberKey(buf []byte, i int) ([]byte, int, step) {
	k, j, st := str(buf, i)
	if st != stepOK {
		return nil, 0, st
	}
	if j = skipSpace(buf, j); j >= len(buf) {
		return nil, 0, stepMore
	}
	if buf[j] != ':' {
		return nil, 0, stepBail
	}
	if j = skipSpace(buf, j+1); j >= len(buf) {
		return nil, 0, stepMore
	}
	return buf[k.off:k.end], j, stepOK
}

// member parses one top-level member at buf[i]; the "records" member only
// up to its '['.
func (p *fastParser) member(buf []byte, i int) step {
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

// record parses one record object at buf[i] and commits it: its keys are
// copied and its data decoded.
func (p *fastParser) record(buf []byte, i int) step {
	if buf[i] != '{' {
		return stepBail
	}
	if st, ok := p.recordFixed(buf, i); ok {
		return st
	}
	r := recValues{data: span{-1, -1}}
	var seen uint8
	var pk, seq span
	j := skipSpace(buf, i+1)
	if j >= len(buf) {
		return stepMore
	}
	if buf[j] != '}' {
		for {
			key, k, st := memberKey(buf, j)
			if st != stepOK {
				return st
			}
			var bit uint8
			switch string(key) {
			case "data":
				bit = rData
				if buf[k] == '"' {
					// Base64 needs no checks here: Decode rejects what is not
					// base64, including '\\' and control characters.
					e := bytes.IndexByte(buf[k+1:], '"')
					if e < 0 {
						return stepMore
					}
					r.data = span{k + 1, k + 1 + e}
					k += e + 2
				} else {
					r.data, k, st = optStr(buf, k)
				}
			case "partitionKey":
				bit = rPartitionKey
				pk, k, st = str(buf, k) // null is an error: slow path
			case "sequenceNumber":
				bit = rSequenceNumber
				seq, k, st = str(buf, k)
			case "approximateArrivalTimestamp":
				bit = rApproximateArrivalTimestamp
				r.ts, _, k, st = integer(buf, k)
			case "subSequenceNumber":
				bit = rSubSequenceNumber
				r.sub, _, k, st = integer(buf, k)
			case "action":
				k, st = skipValue(buf, k, 0) // "record"; not a field of ours
			default:
				if foldsTo(key, "data", "partitionKey", "sequenceNumber", "approximateArrivalTimestamp", "subSequenceNumber") {
					return stepBail
				}
				k, st = skipValue(buf, k, 0)
			}
			if st != stepOK {
				return st
			}
			if seen&bit != 0 {
				return stepBail
			}
			seen |= bit
			if j = skipSpace(buf, k); j >= len(buf) {
				return stepMore
			}
			if buf[j] == '}' {
				break
			}
			if buf[j] != ',' {
				return stepBail
			}
			if j = skipSpace(buf, j+1); j >= len(buf) {
				return stepMore
			}
		}
	}
	// The whole record is here: commit it.
	if seen&rPartitionKey == 0 || seen&rSequenceNumber == 0 {
		return stepBail // missing: the slow path names the field
	}
	return p.commit(buf, r, pk, seq, j+1)
}

// commit keeps a complete record: it decodes its data and copies its keys.
// next is the index after the record's closing brace.
func (p *fastParser) commit(buf []byte, r recValues, pk, seq span, next int) step {
	if seq.off == seq.end {
		return stepBail // an empty sequence number is an error
	}
	if p.keys == nil {
		p.keys = make([]byte, 0, p.keysHint+p.keysHint/8+64)
	}
	return p.commitKeys(buf, r, p.key(buf[pk.off:pk.end]), p.key(buf[seq.off:seq.end]), next)
}

// commitKeys keeps a complete record whose keys are copied already: it
// decodes its data. next is the index after the record's closing brace.
func (p *fastParser) commitKeys(buf []byte, r recValues, pk, seq string, next int) step {
	fr := fastRec{dataOff: -1, dataEnd: -1}
	var data []byte
	if r.data.off >= 0 {
		fr.dataOff, fr.dataEnd = int32(r.data.off), int32(r.data.end)
		if !p.decode(buf, &fr) {
			return stepBail
		}
		out := p.arena
		if p.inPlace {
			out = buf
		}
		data = out[fr.outOff:fr.outEnd:fr.outEnd]
		if data == nil {
			data = []byte{} // "" is empty data, null is no data
		}
	}
	p.records = append(p.records, Record{
		Data:                        data,
		PartitionKey:                pk,
		SequenceNumber:              seq,
		SubSequenceNumber:           r.sub,
		ApproximateArrivalTimestamp: r.ts,
	})
	p.recs = append(p.recs, fr)
	p.pos, p.state = next, sAfterRecord
	return stepOK
}

// key copies b to the batch's keys and returns it as a string.
func (p *fastParser) key(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	off := len(p.keys)
	p.keys = append(p.keys, b...)
	return unsafe.String(&p.keys[off], len(b))
}

// The daemon's record shape, piece by piece, for recordFixed: each
// literal is compared as overlapping 8-byte words (cheaper than a memequal
// call), the words' values written out as constants (TestRecordLiterals
// checks them).
const (
	litData = `{"data":"`
	litPK   = `","partitionKey":"`
	litSeq  = `","sequenceNumber":"`
	litTS   = `","approximateArrivalTimestamp":`
	litSub  = `,"subSequenceNumber":`
	litEnd  = `,"action":"record"}`
)

// atData reports whether buf[i:] starts with `{"data":"`.
func atData(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 9 {
		return false
	}
	b := buf[i : i+9]
	return (binary.LittleEndian.Uint64(b[0:])^0x3a2261746164227b)|
		(binary.LittleEndian.Uint64(b[1:])^0x223a226174616422) == 0
}

// atPK reports whether buf[i:] starts with `","partitionKey":"`.
func atPK(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 18 {
		return false
	}
	b := buf[i : i+18]
	return (binary.LittleEndian.Uint64(b[0:])^0x6974726170222c22)|
		(binary.LittleEndian.Uint64(b[8:])^0x2279654b6e6f6974)|
		(binary.LittleEndian.Uint64(b[10:])^0x223a2279654b6e6f) == 0
}

// atSeq reports whether buf[i:] starts with `","sequenceNumber":"`.
func atSeq(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 20 {
		return false
	}
	b := buf[i : i+20]
	return (binary.LittleEndian.Uint64(b[0:])^0x6575716573222c22)|
		(binary.LittleEndian.Uint64(b[8:])^0x65626d754e65636e)|
		(binary.LittleEndian.Uint64(b[12:])^0x223a227265626d75) == 0
}

// atTS reports whether buf[i:] starts with `","approximateArrivalTimestamp":`.
func atTS(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 32 {
		return false
	}
	b := buf[i : i+32]
	return (binary.LittleEndian.Uint64(b[0:])^0x6f72707061222c22)|
		(binary.LittleEndian.Uint64(b[8:])^0x72416574616d6978)|
		(binary.LittleEndian.Uint64(b[16:])^0x6d69546c61766972)|
		(binary.LittleEndian.Uint64(b[24:])^0x3a22706d61747365) == 0
}

// atSub reports whether buf[i:] starts with `,"subSequenceNumber":`.
func atSub(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 21 {
		return false
	}
	b := buf[i : i+21]
	return (binary.LittleEndian.Uint64(b[0:])^0x716553627573222c)|
		(binary.LittleEndian.Uint64(b[8:])^0x6d754e65636e6575)|
		(binary.LittleEndian.Uint64(b[13:])^0x3a227265626d754e) == 0
}

// atEnd reports whether buf[i:] starts with `,"action":"record"}`.
func atEnd(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 19 {
		return false
	}
	b := buf[i : i+19]
	return (binary.LittleEndian.Uint64(b[0:])^0x6e6f69746361222c)|
		(binary.LittleEndian.Uint64(b[8:])^0x726f636572223a22)|
		(binary.LittleEndian.Uint64(b[11:])^0x7d2264726f636572) == 0
}

// recordFixed parses a record of exactly the daemon's shape, keys in the
// daemon's order and no white space, at buf[i]. ok is false if the record
// is of another shape (or incomplete): the caller parses it in general.
func (p *fastParser) recordFixed(buf []byte, i int) (st step, ok bool) {
	j := i
	if !atData(buf, j) {
		return 0, false
	}
	j += len(litData)
	e := bytes.IndexByte(buf[j:], '"')
	if e < 0 {
		return 0, false
	}
	r := recValues{data: span{j, j + e}}
	j += e
	if !atPK(buf, j) {
		return 0, false
	}
	if p.keys == nil {
		p.keys = make([]byte, 0, p.keysHint+p.keysHint/8+2*keyRoom)
	}
	keysLen := len(p.keys) // to undo the keys of a record that is not committed
	pk, k, ok := p.fixedKey(buf, j+len(litPK))
	if !ok || !atSeq(buf, k-1) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	seq, k, ok := p.fixedKey(buf, k-1+len(litSeq))
	if !ok || seq == "" || !atTS(buf, k-1) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	k += len(litTS) - 1
	if k >= len(buf) || buf[k] == 'n' {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	if r.ts, k, st = fixedInt(buf, k); st != stepOK || !atSub(buf, k) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	k += len(litSub)
	if k >= len(buf) || buf[k] == 'n' {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	if r.sub, k, st = fixedInt(buf, k); st != stepOK || !atEnd(buf, k) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	if st := p.commitKeys(buf, r, pk, seq, k+len(litEnd)); st != stepOK {
		p.keys = p.keys[:keysLen]
		return st, true
	}
	return stepOK, true
}

// keyRoom is the spare capacity of the keys that fixedKey copies into.
const keyRoom = 128

// fixedKey reads a string's content at buf[i] (after its opening quote), of
// the kind str accepts but ASCII only, and appends it to the batch's keys as
// it scans it, 8 bytes at a time. It returns the key and the index after the
// closing quote; ok is false (the keys' length unchanged) for anything else,
// incomplete input included. The keys' bytes up to their length are never
// written: a word goes to their spare capacity, and the length then grows.
func (p *fastParser) fixedKey(buf []byte, i int) (string, int, bool) {
	keys := p.keys
	n := len(keys)
	if cap(keys)-n >= keyRoom && i <= len(buf) {
		dst := (*[keyRoom]byte)(keys[n : n+keyRoom])
		src := buf[i:]
		for j := 0; j <= keyRoom-8 && j+8 <= len(src); j += 8 {
			w := binary.LittleEndian.Uint64(src[j:])
			binary.LittleEndian.PutUint64(dst[j:], w)
			if w&0xf0f0f0f0f0f0f0f0 == 0x3030303030303030 && (w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0 == 0x3030303030303030 {
				continue // eight digits, most of a sequence number
			}
			if m := special(w); m != 0 {
				k := j + bits.TrailingZeros64(m)/8
				if src[k] != '"' {
					return "", 0, false
				}
				if k == 0 {
					return "", i + 1, true
				}
				p.keys = keys[:n+k]
				return unsafe.String(&p.keys[n], k), i + k + 1, true
			}
		}
	}
	// Near the end of the input, out of room, or a long key.
	sp, next, st := str(buf, i-1)
	if st != stepOK {
		return "", 0, false
	}
	for _, c := range buf[sp.off:sp.end] {
		if c >= utf8.RuneSelf {
			return "", 0, false // the general parser checks UTF-8
		}
	}
	return p.key(buf[sp.off:sp.end]), next, true
}

// decode decodes r's base64 data, into the line where the data was (in place)
// or into the arena. It fails, changing nothing in buf, if the data is not
// exactly what the slow path decodes the same way: padded standard base64
// with no '\r' or '\n' (which Decode would skip but JSON forbids raw).
func (p *fastParser) decode(buf []byte, r *fastRec) bool {
	src := buf[r.dataOff:r.dataEnd]
	if len(src)%4 != 0 {
		return false
	}
	want := len(src) / 4 * 3
	if len(src) > 0 && src[len(src)-1] == '=' {
		want--
		if src[len(src)-2] == '=' {
			want--
		}
	}
	if !p.inPlace {
		off := len(p.arena)
		p.arena = grow(p.arena, want)
		n, ok := b64DecodeAt(p.arena[off:cap(p.arena)], buf, int(r.dataOff), int(r.dataEnd))
		if !ok || n != want {
			p.arena = p.arena[:off]
			return false
		}
		p.arena = p.arena[:off+n]
		r.outOff, r.outEnd = int32(off), int32(off+n)
		return true
	}
	if p.inPlace && p.decodeInPlace(buf, r, want) {
		return true
	}
	// Decode into scratch first: a failed decode must leave the line intact
	// for the slow path.
	// Slack after the output lets encoding/base64 (which decodes what the
	// SIMD code leaves) write 8 bytes at a time to the end.
	if cap(p.scratch) < want+slack {
		p.scratch = make([]byte, want+slack+want/4)
	}
	n, ok := b64DecodeAt(p.scratch[:cap(p.scratch)], buf, int(r.dataOff), int(r.dataEnd))
	if !ok || n != want {
		return false
	}
	copy(src, p.scratch[:n])
	r.outOff, r.outEnd = r.dataOff, r.dataOff+int32(n)
	r.decodedInLine = true
	return true
}

// decodeInPlace decodes r's data straight into the line, where its base64
// text was: AVX2 writes each 24-byte block of output below the 32
// characters it has read, and the short remainder is decoded into scratch
// and copied after it. It fails, with the line as it was, if the data is not
// valid or if more than a short remainder is left to decode (the caller then
// decodes it through scratch).
func (p *fastParser) decodeInPlace(buf []byte, r *fastRec, want int) bool {
	off, end := int(r.dataOff), int(r.dataEnd)
	d, s := b64Blocks(buf[off:], buf, off, end)
	rem := buf[off+s : end]
	if len(rem) <= 64 {
		if cap(p.scratch) < 64+slack {
			p.scratch = make([]byte, 64+slack)
		}
		n, ok := b64Decode(p.scratch[:cap(p.scratch)], rem)
		if ok && d+n == want {
			copy(buf[off+d:], p.scratch[:n])
			r.outOff, r.outEnd = r.dataOff, r.dataOff+int32(want)
			r.decodedInLine = true
			return true
		}
	}
	if d > 0 {
		// Put the blocks back: their 32 characters are the exact encoding
		// of their 24 bytes.
		if cap(p.scratch) < d {
			p.scratch = make([]byte, d+d/4)
		}
		tmp := p.scratch[:d]
		copy(tmp, buf[off:off+d])
		base64.StdEncoding.Encode(buf[off:off+s], tmp)
	}
	return false
}

// slack is the room Decode gets after the decoded bytes: 2 for a partial
// final quantum, 8 more for its 8-byte writes.
const slack = 10

// grow makes room for n+slack more bytes after len(b); the length is
// unchanged.
func grow(b []byte, n int) []byte {
	need := len(b) + n + slack
	if need <= cap(b) {
		return b
	}
	c := 2 * cap(b)
	if c < need {
		c = need
	}
	nb := make([]byte, len(b), c)
	copy(nb, b)
	return nb
}

// restore re-encodes the data decoded in place, so that the line reads as it
// was (the same base64 up to its non-significant bits) for the slow path.
func (p *fastParser) restore(buf []byte) {
	for i := range p.recs {
		r := &p.recs[i]
		if !r.decodedInLine {
			continue
		}
		n := int(r.outEnd - r.outOff)
		if cap(p.scratch) < n {
			p.scratch = make([]byte, n)
		}
		tmp := p.scratch[:n]
		copy(tmp, buf[r.outOff:r.outEnd])
		base64.StdEncoding.Encode(buf[r.dataOff:r.dataEnd], tmp)
		r.decodedInLine = false
	}
}

// message builds the message once the line is done, or bails where the slow
// path would give an error (or where it would read records it ignores).
func (p *fastParser) message(d *Decoder, buf []byte) (Message, bool) {
	if p.seen&kAction == 0 || p.action.off == p.action.end {
		return nil, false
	}
	s := func(sp span) string { return string(buf[sp.off:sp.end]) }
	opt := func(bit uint16, sp span) *string {
		if p.seen&bit == 0 || sp.off < 0 {
			return nil
		}
		v := s(sp)
		return &v
	}
	optInt := func(bit uint16, v int64, null bool) *int64 {
		if p.seen&bit == 0 || null {
			return nil
		}
		return &v
	}
	action := buf[p.action.off:p.action.end]
	if string(action) != ActionProcessRecords && p.seen&kRecords != 0 {
		return nil, false
	}
	switch string(action) {
	case ActionProcessRecords:
		if p.seen&kRecords == 0 {
			return nil, false
		}
		return ProcessRecords{Records: p.batch(buf), MillisBehindLatest: optInt(kMillisBehindLatest, p.millis, p.millisNull)}, true
	case ActionInitialize:
		if p.seen&kShardID == 0 || p.shardID.off < 0 {
			return nil, false
		}
		return Initialize{ShardID: s(p.shardID), SequenceNumber: opt(kSequenceNumber, p.seqNum), SubSequenceNumber: optInt(kSubSequenceNumber, p.subSeq, p.subSeqNull)}, true
	case ActionLeaseLost:
		return LeaseLost{}, true
	case ActionShardEnded:
		return ShardEnded{}, true
	case ActionShutdownRequested:
		return ShutdownRequested{}, true
	case ActionShutdown:
		if p.seen&kReason == 0 || p.reason.off < 0 {
			return nil, false
		}
		return Shutdown{Reason: s(p.reason)}, true
	case ActionCheckpoint:
		c := Checkpoint{SequenceNumber: opt(kSequenceNumber, p.seqNum), SubSequenceNumber: optInt(kSubSequenceNumber, p.subSeq, p.subSeqNull)}
		if p.seen&kError != 0 && p.errStr.off >= 0 {
			c.Error = s(p.errStr)
		}
		return c, true
	case ActionStatus:
		if p.seen&kResponseFor == 0 || p.responseFor.off < 0 {
			return nil, false
		}
		return Status{ResponseFor: s(p.responseFor)}, true
	}
	return Unknown{Name: s(p.action)}, true
}

// batch returns the batch's records. Their Data are remade from their
// offsets in the final buffer, always: the line buffer may have been grown
// or compacted after any record was committed (even after the last one
// with data, by a read that ended in the line's tail), and a Data slice
// made before that would point at bytes that are no longer the record's.
// The returned array becomes the live one; the previous live array is
// parsed into next.
func (p *fastParser) batch(buf []byte) []Record {
	if p.records == nil {
		p.records = make([]Record, 0, 8)
	}
	out := p.arena
	if p.inPlace {
		out = buf
	}
	for i := range p.recs {
		if fr := &p.recs[i]; fr.dataOff >= 0 && fr.outEnd > fr.outOff {
			p.records[i].Data = out[fr.outOff:fr.outEnd:fr.outEnd]
		}
	}
	batch := p.records
	p.records, p.live = p.live[:0], batch
	return batch
}
