// Package protocol is the wire format of the Amazon KCL MultiLangDaemon: one
// JSON object per line on the child's stdin (daemon to child) and stdout
// (child to daemon).
//
// It has three parts, each usable on its own:
//
//   - [LineReader] splits a stream into lines with no length limit: a single
//     processRecords line can exceed 10 MB.
//   - [Decoder] turns lines into typed messages ([Initialize],
//     [ProcessRecords], [LeaseLost], [ShardEnded], [ShutdownRequested], the KCL
//     1.x [Shutdown], the daemon's [Checkpoint] reply, [Status]), ignoring
//     unknown fields and returning [Unknown] for an action it does not know.
//   - [Writer] writes messages, exactly one line per message, flushed, with
//     only the fields the daemon knows (the daemon rejects unknown keys).
//
// The package knows nothing of record processors; see package kcl for the run
// loop that uses it.
//
// # Reading the source
//
// messages.go and names.go are the wire format: the messages, the action
// names, the sentinels and exception names. wire.go holds the rules (which
// members each action needs) and the slow path, encoding/json; decode.go
// the Decoder, which tries the fast path first; linereader.go the line
// buffer with the window the Decoder reads. The fast path itself, with all
// of the package's unsafe code and its go:linkname, is internal/fastjson:
// it reads the daemon's usual lines in place and hands anything else back.
package protocol
