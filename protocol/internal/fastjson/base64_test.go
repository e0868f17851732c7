package fastjson

import (
	"bytes"
	stdb64 "encoding/base64"
	"strconv"
	"strings"
	"testing"

	simdb64 "github.com/segmentio/asm/base64"
)

func BenchmarkBase64(b *testing.B) {
	for _, size := range []int{100, 10 << 10} {
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(i * 7)
		}
		enc := []byte(stdb64.StdEncoding.EncodeToString(src))
		dst := make([]byte, size+8)
		b.Run("std/"+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				stdb64.StdEncoding.Decode(dst, enc)
			}
		})
		b.Run("segmentio/"+strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(len(enc)))
			for i := 0; i < b.N; i++ {
				simdb64.StdEncoding.Decode(dst, enc)
			}
		})
	}
}

// FuzzBase64: where the fast path's decoder succeeds, encoding/base64 gives
// the same bytes; and it succeeds where encoding/base64 does on padded input
// without '\r' or '\n'.
func FuzzBase64(f *testing.F) {
	for _, s := range []string{"", "YQ==", "YWI=", "bWVvdw==", "AAAA\r\nAAAA", "A===", "=AAA", "AB=C", strings.Repeat("QUJD", 40), strings.Repeat("QUJD", 20) + "=" + strings.Repeat("QUJD", 20), strings.Repeat("QUJD", 33) + "QQ=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		n := stdb64.StdEncoding.DecodedLen(len(src))
		got := make([]byte, n+slack)
		want := make([]byte, n+2)
		gn, ok := b64Decode(got, src)
		wn, werr := stdb64.StdEncoding.Decode(want, src)
		if ok && (werr != nil || gn != wn || !bytes.Equal(got[:gn], want[:wn])) {
			t.Fatalf("%q: got %x, encoding/base64 %x, %v", src, got[:gn], want[:wn], werr)
		}
		if !ok && werr == nil && len(src)%4 == 0 && !bytes.ContainsAny(src, "\r\n") {
			t.Fatalf("%q: rejected, encoding/base64 accepts it", src)
		}
	})
}
