package deagg_test

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/kclgo/kclgo/deagg"
)

// TestUnusualLayouts covers what no aggregator writes but protobuf allows:
// key tables after the records, fields out of order, repeated fields, large
// indexes and lengths, unknown fields and groups, tags. Every form must
// agree with the official protobuf runtime.
func TestUnusualLayouts(t *testing.T) {
	md := referenceDescriptor(t)
	key := func(num protowire.Number, s string) []byte {
		return protowire.AppendString(protowire.AppendTag(nil, num, protowire.BytesType), s)
	}
	rec := func(fields ...[]byte) []byte {
		inner := bytes.Join(fields, nil)
		return protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), inner)
	}
	varint := func(num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
	}
	data := func(d []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 3, protowire.BytesType), d)
	}
	var manyKeys [][]byte
	for i := range 300 {
		manyKeys = append(manyKeys, key(1, fmt.Sprint("k", i)))
	}
	big := bytes.Repeat([]byte("z"), 70000)
	tag := protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), key(1, "tagkey"))
	group := protowire.AppendTag(protowire.AppendTag(nil, 9, protowire.StartGroupType), 9, protowire.EndGroupType)

	for _, tc := range []struct {
		name string
		body []byte
		want int // user records; -1 for corrupt
	}{
		{"keys after records", bytes.Join([][]byte{rec(varint(1, 0), data([]byte("x"))), key(1, "late"), key(2, "7"),
			rec(varint(1, 0), varint(2, 0), data([]byte("y")))}, nil), 2},
		{"fields reversed", bytes.Join([][]byte{key(1, "p"), key(2, "9"), rec(data([]byte("d")), varint(2, 0), varint(1, 0))}, nil), 1},
		{"repeated index, last wins", bytes.Join([][]byte{key(1, "p"), key(1, "q"), rec(varint(1, 5), varint(1, 1), data(nil))}, nil), 1},
		{"index 299", bytes.Join(append(manyKeys, rec(varint(1, 299), data([]byte("last")))), nil), 1},
		{"index 300", bytes.Join(append(manyKeys, rec(varint(1, 300), data([]byte("past")))), nil), -1},
		{"70 KB data", bytes.Join([][]byte{key(1, "p"), rec(varint(1, 0), data(big)), rec(varint(1, 0), data(big[:16000]))}, nil), 2},
		{"unknown fields and groups", bytes.Join([][]byte{group, key(1, "p"), varint(7, 1), rec(varint(1, 0), group, varint(8, 3), data([]byte("u")))}, nil), 1},
		{"tags", bytes.Join([][]byte{key(1, "p"), rec(varint(1, 0), data([]byte("t")), tag, tag)}, nil), 1},
		{"tag without key", bytes.Join([][]byte{key(1, "p"), rec(varint(1, 0), data([]byte("t")),
			protowire.AppendBytes(protowire.AppendTag(nil, 4, protowire.BytesType), key(2, "v")))}, nil), -1},
		{"key table as varint is unknown", bytes.Join([][]byte{varint(1, 3), key(1, "p"), rec(varint(1, 0), data(nil))}, nil), 1},
		{"ehk index past table after others", bytes.Join([][]byte{key(1, "p"), key(2, "1"), rec(varint(1, 0), varint(2, 0), data(nil)),
			rec(varint(1, 0), varint(2, 1), data(nil))}, nil), -1},
		{"empty record", bytes.Join([][]byte{key(1, "p"), rec()}, nil), -1},
		{"no records, only unknown", varint(5, 5), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := deagg.Record{Data: wrap(tc.body), SequenceNumber: "9"}
			got, err := deagg.AppendRecord(nil, r)
			var streamed []deagg.UserRecord
			var streamErr error
			for u, err := range deagg.IterRecord(r) {
				if err != nil {
					streamErr = err
				} else {
					streamed = append(streamed, u)
				}
			}
			assert.Equal(t, got, streamed)
			assert.Equal(t, err, streamErr)
			want, ok := referenceDecode(md, tc.body)
			if tc.want < 0 {
				require.False(t, ok)
				require.ErrorIs(t, err, deagg.ErrCorrupt)
				t.Log(err)
				return
			}
			require.True(t, ok)
			require.NoError(t, err)
			require.Len(t, got, tc.want)
			for i := range want {
				want[i].SequenceNumber = "9"
				if len(want[i].Data) == 0 {
					want[i].Data = got[i].Data
				}
			}
			assert.Equal(t, want, got)
		})
	}
}

// TestDependencies keeps package deagg on the standard library and
// google.golang.org/protobuf alone: the one package of this module it may
// import, internal/kinesislimits, must itself import the standard library
// only.
func TestDependencies(t *testing.T) {
	const limits = "github.com/kclgo/kclgo/internal/kinesislimits"
	check := func(glob string, allowed func(path string) bool) {
		files, err := filepath.Glob(glob)
		require.NoError(t, err)
		require.NotEmpty(t, files, glob)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			require.NoError(t, err)
			for _, imp := range parsed.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				assert.True(t, allowed(path), "%s imports %s", f, path)
			}
		}
	}
	std := func(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }
	check("*.go", func(path string) bool {
		return std(path) || strings.HasPrefix(path, "google.golang.org/protobuf/") || path == limits
	})
	check("../internal/kinesislimits/*.go", std)
}
