package fastjson

import (
	"bytes"
	"testing"
)

// FuzzParse: Parse never panics, on whole lines and on growing windows of
// one; Done uses no more than the window; NotMine, and Undo after Done or
// More, leave the window as it was (up to base64's non-significant bits:
// "YR==" comes back as "YQ==", the same data for encoding/base64).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"action":"leaseLost"}`,
		`{"action":"processRecords","records":[{"data":"YWJj","partitionKey":"k","sequenceNumber":"1","approximateArrivalTimestamp":1,"subSequenceNumber":0,"action":"record"}],"millisBehindLatest":0}`,
		`{"action":"processRecords","records":[{"data":"` + string(bytes.Repeat([]byte("QUJD"), 30)) + `","partitionKey":"k","sequenceNumber":"1"},{"data":"!!!!","partitionKey":"k","sequenceNumber":"2"}]}`,
		`{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":"ThrottlingException"}`,
		`{"action":"initialize","shardId":"s","sequenceNumber":"TRIM_HORIZON","subSequenceNumber":0}`,
		`{"x":[1,-2.5e3,{"y":null}],"action":"status","responseFor":"initialize"}`,
	} {
		f.Add([]byte(s), uint8(7))
	}
	f.Add([]byte(`{"action":"processRecords","records":[{"data":"YR==","partitionKey":"k","sequenceNumber":"1"}]}`), uint8(3))
	f.Fuzz(func(t *testing.T, line []byte, step uint8) {
		var p Parser
		p.Reset(false, true)
		if _, n, st := p.Parse(line); st == Done && n != len(line) {
			t.Fatalf("complete line: used %d of %d bytes", n, len(line))
		}

		stream := append(append([]byte{}, line...), '\n')
		// The line as Undo gives it back: the record data re-encoded.
		orig := append([]byte{}, stream...)
		var q Parser
		q.Reset(true, false)
		if _, _, st := q.Parse(orig); st != NotMine {
			q.Undo(orig)
		}
		p.Reset(true, false)
		for end := 0; ; end += int(step%64) + 1 {
			end = min(end, len(stream))
			win := stream[:end]
			_, n, st := p.Parse(win)
			switch st {
			case Done:
				if n > len(win) {
					t.Fatalf("used %d bytes of a %d-byte window", n, len(win))
				}
				p.Undo(win)
				if !bytes.Equal(stream, orig) {
					t.Fatalf("Undo after Done: %q, was %q", stream, orig)
				}
				return
			case NotMine:
				if !bytes.Equal(stream, orig) {
					t.Fatalf("NotMine changed the window: %q, was %q", stream, orig)
				}
				return
			}
			if end == len(stream) {
				p.Undo(win)
				if !bytes.Equal(stream, orig) {
					t.Fatalf("Undo after More: %q, was %q", stream, orig)
				}
				return
			}
		}
	})
}
