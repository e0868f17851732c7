package protocol

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readAll(t *testing.T, lr *LineReader) ([]string, error) {
	t.Helper()
	var lines []string
	for {
		line, err := lr.ReadLine()
		if err != nil {
			return lines, err
		}
		lines = append(lines, string(line))
	}
}

func TestLineReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{"empty", "", nil, io.EOF},
		{"one", "a\n", []string{"a"}, io.EOF},
		{"crlf", "a\r\nb\n", []string{"a", "b"}, io.EOF},
		{"empty lines", "\n\na\n", []string{"", "", "a"}, io.EOF},
		{"truncated", "a\nbc", []string{"a"}, ErrTruncated},
	}
	for _, tt := range tests {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"plain", func(r io.Reader) io.Reader { return r }}, {"onebyte", iotest.OneByteReader}, {"half", iotest.HalfReader}, {"dataerr", iotest.DataErrReader}} {
			t.Run(tt.name+"/"+wrap.name, func(t *testing.T) {
				lines, err := readAll(t, NewLineReader(wrap.f(strings.NewReader(tt.in))))
				assert.Equal(t, tt.want, lines)
				assert.ErrorIs(t, err, tt.wantErr)
			})
		}
	}
}

func TestLineReaderTruncatedNamesLine(t *testing.T) {
	lr := NewLineReader(strings.NewReader("a\nb\n{\"action\":"))
	_, err := readAll(t, lr)
	require.ErrorIs(t, err, ErrTruncated)
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Contains(t, err.Error(), "line 3")
	assert.Contains(t, err.Error(), "after 10 bytes")
}

func TestLineReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	lr := NewLineReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)))
	lines, err := readAll(t, lr)
	assert.Equal(t, []string{"a"}, lines)
	assert.ErrorIs(t, err, boom)
}

// TestLineReader64MiB feeds one 64 MiB line: a bufio.Scanner with its default
// 64 KiB limit fails here.
func TestLineReader64MiB(t *testing.T) {
	const size = 64 << 20
	big := bytes.Repeat([]byte("x"), size)
	in := io.MultiReader(strings.NewReader("first\n"), bytes.NewReader(big), strings.NewReader("\nlast\n"))
	lr := NewLineReader(in)
	line, err := lr.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "first", string(line))
	line, err = lr.ReadLine()
	require.NoError(t, err)
	require.Len(t, line, size)
	assert.True(t, bytes.Equal(big, line))
	line, err = lr.ReadLine()
	require.NoError(t, err)
	assert.Equal(t, "last", string(line))
	_, err = lr.ReadLine()
	assert.ErrorIs(t, err, io.EOF)
	assert.Equal(t, 3, lr.Line())
}

func TestLineReaderNoProgress(t *testing.T) {
	_, err := NewLineReader(zeroReader{}).ReadLine()
	assert.ErrorIs(t, err, io.ErrNoProgress)
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func FuzzLineReader(f *testing.F) {
	for _, s := range []string{"", "\n", "a\nb", "a\r\n\r\nb\n", "{\"action\":\"initialize\"}\n", strings.Repeat("y", 70000) + "\nz"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := bytes.Split(in, []byte("\n"))
		tail := want[len(want)-1]
		want = want[:len(want)-1]
		for i, l := range want {
			want[i] = bytes.TrimSuffix(l, []byte("\r"))
		}
		for _, r := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
			lr := NewLineReader(r)
			for i := 0; ; i++ {
				line, err := lr.ReadLine()
				if err != nil {
					if len(tail) > 0 {
						if !errors.Is(err, ErrTruncated) {
							t.Fatalf("err = %v, want ErrTruncated", err)
						}
					} else if err != io.EOF {
						t.Fatalf("err = %v, want EOF", err)
					}
					if i != len(want) {
						t.Fatalf("got %d lines, want %d", i, len(want))
					}
					break
				}
				if i >= len(want) || !bytes.Equal(line, want[i]) {
					t.Fatalf("line %d = %q", i, line)
				}
			}
		}
	})
}
