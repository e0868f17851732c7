package fastjson

import (
	"encoding/base64"

	simdbase64 "github.com/segmentio/asm/base64"
)

// Base64: record data, decoded from the line's bytes, in place (into the
// line, where its text was) or into the parser's arena.

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

// decode decodes r's base64 data, into the line where the data was (in place)
// or into the arena. It fails, changing nothing in buf, if the data is not
// exactly what the slow path decodes the same way: padded standard base64
// with no '\r' or '\n' (which Decode would skip but JSON forbids raw).
func (p *Parser) decode(buf []byte, r *fastRec) bool {
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
func (p *Parser) decodeInPlace(buf []byte, r *fastRec, want int) bool {
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
func (p *Parser) restore(buf []byte) {
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
