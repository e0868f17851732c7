//go:build amd64 && !purego

package fastjson

import (
	_ "unsafe" // go:linkname

	"github.com/segmentio/asm/cpu"
	"github.com/segmentio/asm/cpu/x86"
)

// decodeAVX2 is segmentio/asm's AVX2 base64 loop (base64/decode_amd64.s),
// which its Decode runs before handing the rest to encoding/base64. It
// decodes 32 characters into 24 bytes at a time (storing 32: 8 bytes of
// slack) for as long as the block is valid base64 and at least 45 bytes of
// src remain after it; it returns the bytes written and characters read.
// The caller makes sure that src holds at least 45 bytes.
//
//go:linkname decodeAVX2 github.com/segmentio/asm/base64.decodeAVX2
//go:noescape
func decodeAVX2(dst []byte, src []byte, lut *int8) (int, int)

var haveAVX2 = cpu.X86.Has(x86.AVX2)

// avx2LUT is decodeAVX2's table for the standard alphabet, as segmentio/asm
// builds it (enableDecodeAVX2).
var avx2LUT = func() [48]int8 {
	const c62, c63 = '+', '/'
	tab := [48]int8{
		0, 63 - c63, 62 - c62, 4, -65, -65, -71, -71,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
		0x11, 0x11, 0x13, 0x1B, 0x1B, 0x1B, 0x1B, 0x1B,
	}
	tab[(c62&15)+16] = 0x1A
	tab[(c63&15)+16] = 0x1A
	return tab
}()

// b64Blocks decodes the leading 32-character blocks of the base64 text
// buf[off:end] with AVX2, which needs 45 readable bytes from the block it
// decodes: it reads past end into the line, up to 13 bytes, where the
// closing quote at end stops it (a quote is not base64). It returns the
// bytes written to dst and the characters decoded; the caller decodes the
// rest.
func b64Blocks(dst, buf []byte, off, end int) (int, int) {
	l := end - off
	if !haveAVX2 || end >= len(buf) || buf[end] != '"' || len(dst) < l/32*24+8 {
		return 0, 0
	}
	src := buf[off:min(end+13, len(buf))]
	if len(src) < 45 {
		return 0, 0
	}
	return decodeAVX2(dst, src, &avx2LUT[0])
}
