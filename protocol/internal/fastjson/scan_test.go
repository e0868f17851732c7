package fastjson

import (
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEightDigits(t *testing.T) {
	for _, s := range []string{"00000000", "12345678", "99999999", "10000001", "1234567a", "/2345678", ":2345678", "1234 678"} {
		v, ok := eightDigits(binary.LittleEndian.Uint64([]byte(s)))
		want, err := strconv.ParseUint(s, 10, 64)
		assert.Equal(t, err == nil, ok, s)
		if ok {
			assert.Equal(t, want, v, s)
		}
	}
}

func TestIntegerWords(t *testing.T) {
	for _, s := range []string{"0", "7", "-7", "12345678", "123456789", "1795576046680", "9999999999999999", "12345678901234567", "123456789012345678", "1234567890123456789", "-123456789012345678", "01", "1.5", "1e3", "12345678.5"} {
		for _, tail := range []string{",", `,"subSequenceNumber":0,"action":"record"}`, "}                    "} {
			line := []byte(s + tail)
			v, null, next, st := integer(line, 0)
			want, err := strconv.ParseInt(s, 10, 64)
			if err != nil || len(strings.TrimLeft(s, "-")) > 18 || (len(s) > 1 && strings.TrimLeft(s, "-")[0] == '0') {
				assert.NotEqual(t, stepOK, st, "%q", line)
				continue
			}
			require.Equal(t, stepOK, st, "%q", line)
			assert.False(t, null)
			assert.Equal(t, want, v, "%q", line)
			assert.Equal(t, len(s), next, "%q", line)
		}
	}
}

func TestStrWords(t *testing.T) {
	for _, s := range []string{`""`, `"a"`, `"12345678"`, `"495903382714902566085596925383615710959215759891365880001"`, `"pk-1234567"`, `"ab\"c"`, "\"a\x01b\"", `"ключ-123456"`, "\"\xff\xfe-12345678\""} {
		for _, tail := range []string{"", ",", `,"sequenceNumber":"1","approximateArrivalTimestamp"`} {
			line := []byte(s + tail)
			sp, next, st := str(line, 0)
			var want string
			err := json.Unmarshal([]byte(s), &want)
			if err != nil || strings.Contains(s, `\`) || !utf8.ValidString(s) {
				assert.NotEqual(t, stepOK, st, "%q", line)
				continue
			}
			require.Equal(t, stepOK, st, "%q", line)
			assert.Equal(t, want, string(line[sp.off:sp.end]))
			assert.Equal(t, len(s), next)
		}
	}
}
