package fastjson

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestRecordLiterals: the literal matchers of recordFixed match their
// literals exactly, and nothing that differs in one byte or is cut short.
func TestRecordLiterals(t *testing.T) {
	for lit, at := range map[string]func([]byte, int) bool{litData: atData, litPK: atPK, litSeq: atSeq, litTS: atTS, litSub: atSub, litEnd: atEnd} {
		buf := []byte("xx" + lit + "yy")
		assert.True(t, at(buf, 2), lit)
		assert.False(t, at(buf, 1), lit)
		assert.False(t, at(buf[:len(lit)+1], 2), lit)
		assert.False(t, at(buf, -1), lit)
		for i := range lit {
			b := []byte("xx" + lit + "yy")
			b[2+i] ^= 0x20
			assert.False(t, at(b, 2), "%s, byte %d changed", lit, i)
		}
	}
}
