//go:build amd64 && !purego

package fastjson

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// TestAVX2Contract checks what b64Blocks relies on in segmentio/asm's
// unexported decodeAVX2 (reached with go:linkname, see the package doc),
// none of which is that package's API: an upgrade of segmentio/asm that
// changes any of it fails here, not in production.
//
//   - it decodes 32 characters into 24 bytes a block, and goes on while at
//     least 45 bytes of src remain (so a caller must give it 45 bytes);
//   - it stops before a block that holds a character not in the alphabet
//     (the closing quote that ends record data in the line);
//   - it writes at most 8 bytes past the 24 of each block;
//   - its output stays below its input: decoding in place, dst == src,
//     gives the same bytes.
func TestAVX2Contract(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2: b64Blocks does not call decodeAVX2")
	}
	raw := make([]byte, 300)
	for i := range raw {
		raw[i] = byte(i*131 + 7)
	}
	enc := []byte(base64.StdEncoding.EncodeToString(raw)) // 400 characters, no padding
	for l := 45; l <= len(enc); l++ {
		src := enc[:l]
		blocks := (l-45)/32 + 1 // the first block always; then while 45 remain
		want := raw[:blocks*24]

		dst := bytes.Repeat([]byte{0xee}, len(raw)+64)
		n, m := decodeAVX2(dst, src, &avx2LUT[0])
		if n != blocks*24 || m != blocks*32 {
			t.Fatalf("%d characters: wrote %d, read %d; want %d and %d (the 45-byte rule changed)", l, n, m, blocks*24, blocks*32)
		}
		if !bytes.Equal(dst[:n], want) {
			t.Fatalf("%d characters: decoded %x, want %x", l, dst[:n], want)
		}
		for i := n + 8; i < len(dst); i++ {
			if dst[i] != 0xee {
				t.Fatalf("%d characters: byte %d written, more than 8 past the %d decoded", l, i, n)
			}
		}

		line := append(append([]byte{}, src...), `"}`...)
		n, m = decodeAVX2(line, line[:l], &avx2LUT[0])
		if n != blocks*24 || m != blocks*32 || !bytes.Equal(line[:n], want) {
			t.Fatalf("%d characters in place: wrote %d, read %d, got %x; want %x (output no longer below input)", l, n, m, line[:n], want)
		}
	}
	// A block with the closing quote in it is not decoded, nor any after.
	for q := 0; q < 96; q++ {
		line := append(append([]byte{}, enc[:200]...), `"}`...)
		line[q] = '"'
		n, m := decodeAVX2(make([]byte, 256), line, &avx2LUT[0])
		if blocks := q / 32; n != blocks*24 || m != blocks*32 {
			t.Fatalf("quote at %d: wrote %d, read %d; want %d blocks", q, n, m, blocks)
		}
	}
}
