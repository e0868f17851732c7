package fastjson

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// Scanning: the JSON tokens of a line, read from a byte index of the
// window. Each returns the index after what it read and a [step]: OK,
// more (the window ended inside the token) or bail (not a token the fast
// path reads exactly).

// span is a string value in the line: [off, end). off < 0 for null.
type span struct{ off, end int }

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
