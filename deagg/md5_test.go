package deagg

import (
	"crypto/md5"
	"math/rand/v2"
	"testing"
)

func TestMD5Sum(t *testing.T) {
	b := make([]byte, 3*md5Chunk+17)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	for _, n := range []int{0, 1, md5Chunk - 1, md5Chunk, md5Chunk + 1, 2 * md5Chunk, len(b)} {
		if md5Sum(b[:n]) != md5.Sum(b[:n]) {
			t.Errorf("md5Sum of %d bytes differs from md5.Sum", n)
		}
	}
}
