package protocol

import (
	"bytes"
	"fmt"
	"io"
)

// initialBufSize is the line buffer's first size; it grows as lines need.
const initialBufSize = 64 << 10

// maxRead caps one read: the fast path decodes what it read while it is
// still in the cache (512 KiB, an AMD EPYC core's L2). Each read of a full
// pipe wakes the daemon's writer: 512 KiB reads wake it a quarter as often
// as 128 KiB ones, which kclbench measures as 5-15% less wall time.
var maxRead = 512 << 10

// LineReader reads '\n'-terminated lines of any length. Unlike
// [bufio.Scanner] it has no maximum line length: a line grows the buffer as
// far as memory allows. A "\r\n" terminator is accepted too.
//
// A LineReader is not safe for concurrent use.
type LineReader struct {
	r       io.Reader
	buf     []byte
	start   int // first byte of the window (the unread data) in buf
	end     int // end of the window
	scanned int // buf[start:scanned] holds no '\n'
	line    int
	err     error // sticky read error
	// pinned, when positive, is 1 + the index of the first pinned byte:
	// buf[pinned-1:start] stays where and as it is until release. The
	// buffer is then never moved over it; when it is full, a new one takes
	// the window and the old one stays with whoever pinned it.
	pinned int
}

// NewLineReader returns a LineReader reading from r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: r}
}

// ReadLine returns the next line without its terminator. The returned slice
// aliases the reader's buffer and is valid only until the next call.
//
// At the end of the input ReadLine returns [io.EOF] if the input ended after a
// complete line, or an error matching [ErrTruncated] (and
// [io.ErrUnexpectedEOF]) if it ended in the middle of one. Any other read
// error is returned as is.
func (lr *LineReader) ReadLine() ([]byte, error) {
	for {
		if nl, ok := lr.newline(0); ok {
			win := lr.peek()
			line := win[:nl]
			lr.advance(nl + 1)
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		if lr.err != nil {
			if lr.err == io.EOF && lr.end > lr.start {
				n := lr.end - lr.start
				lr.start = lr.end
				lr.scanned = lr.end
				return nil, fmt.Errorf("protocol: line %d: %w after %d bytes: %w", lr.line+1, ErrTruncated, n, io.ErrUnexpectedEOF)
			}
			return nil, lr.err
		}
		lr.fill()
	}
}

// Line returns the number of lines returned so far: the 1-based number of the
// last line read.
func (lr *LineReader) Line() int { return lr.line }

// The window API, for ReadLine and the Decoder, which reads a line's
// message while the line is still arriving (decode.go): peek at the unread
// bytes, look for the line's end, fill for more, advance past the line, pin
// what must not move.

// peek returns the window: the bytes read and not yet consumed. It is
// valid, and the caller may change its bytes, until the next fill or
// advance.
func (lr *LineReader) peek() []byte { return lr.buf[lr.start:lr.end] }

// newline returns the index in the window of the first '\n' at or after
// from. Each byte is searched once: a later call searches only what the
// window gained, so the bytes below a '\n' found may be changed meanwhile.
func (lr *LineReader) newline(from int) (int, bool) {
	s := max(lr.scanned, lr.start+from)
	if i := bytes.IndexByte(lr.buf[s:lr.end], '\n'); i >= 0 {
		lr.scanned = s + i
		return s + i - lr.start, true
	}
	lr.scanned = lr.end
	return 0, false
}

// advance consumes the window's first n bytes: a line and its terminator.
func (lr *LineReader) advance(n int) {
	lr.start += n
	lr.scanned = lr.start
	lr.line++
}

// failed reports a read error (io.EOF included): fill reads no more.
func (lr *LineReader) failed() bool { return lr.err != nil }

// pin keeps the bytes from the window's start on where and as they are,
// also once advance has consumed them, until release.
func (lr *LineReader) pin() { lr.pinned = lr.start + 1 }

// release lets the buffer move or reuse the pinned bytes.
func (lr *LineReader) release() { lr.pinned = 0 }

// fill reads more input into the window, making room first: it moves the
// window to the front or grows the buffer when it is full.
func (lr *LineReader) fill() {
	if lr.buf == nil {
		lr.buf = make([]byte, initialBufSize)
	}
	switch {
	case lr.pinned > 0:
		if lr.end == len(lr.buf) {
			size := len(lr.buf)
			if lr.end-lr.start > size/2 {
				size *= 2
			}
			nb := make([]byte, size)
			n := copy(nb, lr.buf[lr.start:lr.end])
			lr.scanned -= lr.start
			lr.buf, lr.start, lr.end, lr.pinned = nb, 0, n, 0
		}
	case lr.start == lr.end:
		// Nothing unread (the usual case: the daemon waits for our answer
		// before it writes the next message): start again at the front of
		// the buffer instead of moving a partial line there later.
		lr.start, lr.end, lr.scanned = 0, 0, 0
	case lr.start > 0 && (lr.end == len(lr.buf) || lr.end-lr.start <= maxRead):
		// Move unread data to the front: when the buffer is full, or while
		// that is cheap (the start of a message that arrived after the
		// last one), so that a long line does not have to move later.
		n := copy(lr.buf, lr.buf[lr.start:lr.end])
		lr.scanned -= lr.start
		lr.start, lr.end = 0, n
	}
	if lr.end == len(lr.buf) {
		grown := make([]byte, 2*len(lr.buf))
		copy(grown, lr.buf[lr.start:lr.end])
		lr.scanned -= lr.start
		lr.end -= lr.start
		lr.start = 0
		lr.buf = grown
	}
	for tries := 0; tries < 100; tries++ {
		n, err := lr.r.Read(lr.buf[lr.end:min(len(lr.buf), lr.end+maxRead)])
		lr.end += n
		if err != nil {
			lr.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	lr.err = io.ErrNoProgress
}
