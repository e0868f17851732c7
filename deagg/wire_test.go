package deagg

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestWireError checks wireError against protowire's own meaning of each
// error code.
func TestWireError(t *testing.T) {
	assert.ErrorIs(t, protowire.ParseError(errCodeTruncated), io.ErrUnexpectedEOF)
	for code, words := range map[int]string{
		errCodeFieldNumber: "invalid field number",
		-3:                 "overflow",
		-4:                 "reserved wire type",
		-5:                 "end group",
		-6:                 "parse error", // protowire has no text of its own for the depth limit
	} {
		assert.Contains(t, strings.ReplaceAll(protowire.ParseError(code).Error(), "\u00a0", " "), words, "code %d", code)
		assert.NotEqual(t, "malformed protobuf", wireError(code), "code %d", code)
	}
}
