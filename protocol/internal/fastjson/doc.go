// Package fastjson is the protocol package's fast path: it reads the
// daemon's usual lines (processRecords above all) straight from the line
// buffer, with base64 decoded in place, and gives up on anything else, which
// protocol then decodes with encoding/json (its slow path).
//
// The whole package is one narrow step: [Parser.Parse] takes a window of
// bytes (a line, or the part of it that has arrived) and gives a [Message]
// and the bytes it used, [More] (run again on a longer window), or
// [NotMine] (the window unchanged: use the slow path). It knows JSON and the
// shape of the daemon's records, never the protocol's rules: which members
// an action needs is decided by the caller, on the Message.
//
// The files, by concern:
//
//   - parser.go: the Parser, its states and the top-level members;
//   - scan.go: JSON tokens (strings, integers, skipped values), 8 bytes at a
//     time;
//   - records.go: a record's members, the daemon's exact record shape, the
//     batch's keys in one string, [Records];
//   - base64.go, b64_amd64.go: record data, decoded in place.
//
// # Unsafe code, and why github.com/segmentio/asm is pinned
//
// Three things here are not ordinary Go, and nothing outside this package
// does them:
//
//   - partition keys and sequence numbers are unsafe.String views of an
//     append-only buffer, a new one per batch;
//   - record data is decoded in place, into the caller's line buffer, and
//     re-encoded ([Parser.Undo]) when the line goes to the slow path;
//   - b64_amd64.go reaches segmentio/asm's unexported AVX2 loop
//     (base64.decodeAVX2) with go:linkname, so that records shorter than
//     that package's Decode threshold, and data inside the line, get it too.
//     Its 45-byte minimum input, its 8 bytes written past each 24-byte block
//     and its output staying below its input (what makes in-place decoding
//     work) are not that package's API. go.mod pins segmentio/asm at
//     v1.2.1 for this; TestAVX2Contract checks all three and fails loudly
//     when an upgrade changes any of them (the symbol itself: the build
//     fails).
package fastjson
