package protocol

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// daemonWrites returns its chunks one Read at a time, as the daemon's writes
// arrive through a pipe.
type daemonWrites struct{ chunks []string }

func (r *daemonWrites) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

func chunkRecord(data, seq string) string {
	return `{"data":"` + data + `","partitionKey":"pk","sequenceNumber":"` + seq + `","approximateArrivalTimestamp":1,"subSequenceNumber":0,"action":"record"}`
}

// The line buffer is compacted after the batch's last record with data was
// decoded in place (a read ended in the line's tail): the records' Data must
// still be theirs, also after the next checkpoint reply is read.
func TestDataSurvivesCompactionAfterLastRecord(t *testing.T) {
	big := strings.Repeat("QUFB", 5000)
	line1 := `{"action":"processRecords","records":[` + chunkRecord(big, "1") + `],"millisBehindLatest":0}` + "\n"
	chunkA := `{"action":"processRecords","records":[` + chunkRecord("aGVsbG8sIHdvcmxk", "2")
	chunkB := `],"millisBehindLatest":0}` + "\n"
	reply := `{"action":"checkpoint","sequenceNumber":null,"subSequenceNumber":null,"error":"` + strings.Repeat("X", 30000) + `"}` + "\n"
	d := NewDecoder(&daemonWrites{chunks: []string{line1, chunkA, chunkB, reply}})
	_, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	m, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	data := m.(ProcessRecords).Records[0].Data
	if string(data) != "hello, world" {
		t.Fatalf("Data = %q right after decoding", data)
	}
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if string(data) != "hello, world" {
		t.Fatalf("Data = %q after the checkpoint reply", data)
	}
}

// A line that is not the batch but has a "records" key (here a checkpoint
// reply from a daemon we do not know) must not touch the live batch.
func TestForeignRecordsKeyLeavesLiveBatch(t *testing.T) {
	batch := `{"action":"processRecords","records":[` + chunkRecord("YWFh", "1") + `],"millisBehindLatest":0}` + "\n"
	odd := `{"action":"checkpoint","records":[{"data":"WlpaWl","partitionKey":"EVIL","sequenceNumber":"999"}],"sequenceNumber":null,"subSequenceNumber":null,"error":null}` + "\n"
	d := NewDecoder(strings.NewReader(batch + odd))
	m, err := d.Next()
	if err != nil {
		t.Fatal(err)
	}
	recs := m.(ProcessRecords).Records
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if recs[0].PartitionKey != "pk" || string(recs[0].Data) != "aaa" || recs[0].SequenceNumber != "1" {
		t.Fatalf("live batch changed: %+v", recs[0])
	}
}

// TestChunkedStress feeds batches and checkpoint replies in random read
// sizes and checks that the live batch never changes until the next batch.
func TestChunkedStress(t *testing.T) {
	seeds := uint64(1000)
	if testing.Short() {
		seeds = 100
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(seed, 7))
		var in bytes.Buffer
		var batches [][][]byte
		w := NewWriter(&in)
		for b := range 6 {
			n := 1 + rng.IntN(6)
			var recs []Record
			var datas [][]byte
			for i := range n {
				var data []byte
				if rng.IntN(5) > 0 {
					data = make([]byte, rng.IntN(3000))
					for j := range data {
						data[j] = byte(rng.IntN(256))
					}
				}
				datas = append(datas, data)
				recs = append(recs, Record{Data: data, PartitionKey: "pk", SequenceNumber: fmt.Sprint(b*100 + i)})
			}
			batches = append(batches, datas)
			if err := w.Write(ProcessRecords{Records: recs}); err != nil {
				t.Fatal(err)
			}
			for range rng.IntN(3) {
				if err := w.Write(Checkpoint{Error: strings.Repeat("E", rng.IntN(5000))}); err != nil {
					t.Fatal(err)
				}
			}
		}
		d := NewDecoder(&randomReads{b: in.Bytes(), rng: rng, max: 1 + rng.IntN(20000)})
		var live []Record
		var want [][]byte
		n := 0
		for {
			m, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if pr, ok := m.(ProcessRecords); ok {
				live = pr.Records
				want = batches[n]
				n++
			}
			for i := range live {
				if !bytes.Equal(live[i].Data, want[i]) || (live[i].Data == nil) != (want[i] == nil) {
					t.Fatalf("seed %d batch %d record %d: Data changed after %s", seed, n, i, m.Action())
				}
			}
		}
		if n != len(batches) {
			t.Fatalf("seed %d: %d batches, want %d", seed, n, len(batches))
		}
	}
}

type randomReads struct {
	b   []byte
	rng *rand.Rand
	max int
}

func (r *randomReads) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.b), 1+r.rng.IntN(r.max))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}
