package protocol

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/kclgo/kclgo/protocol/internal/fastjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// slowDecode is the reference: the encoding/json path alone.
func slowDecode(line []byte) (Message, error) {
	var d Decoder
	return d.decode(line)
}

// fastDecode is the fast path alone, on a whole line; ok is false when it
// gives up.
func fastDecode(line []byte) (m Message, ok bool) {
	var d Decoder
	d.fp.Reset(false, true)
	fm, _, st := d.fp.Parse(line)
	if st != fastjson.Done {
		return nil, false
	}
	return d.fastMessage(fm, line)
}

// fastLines are lines the fast path must take (not hand to the slow path).
func fastLines(t testing.TB) [][]byte {
	var out [][]byte
	for _, tl := range readTranscript(t) {
		if tl.Dir == "daemon_to_child" {
			out = append(out, []byte(tl.Line))
		}
	}
	for _, n := range []int{0, 1, 3, 100} {
		out = append(out, bytes.TrimSuffix(batchLine(n, 10), []byte("\n")))
	}
	return append(out,
		[]byte(`{"action":"status","responseFor":"processRecords"}`),
		[]byte(`{ "action" : "processRecords" , "records" : [ { "data" : null , "partitionKey" : "k" , "sequenceNumber" : "1" , "x" : [1, -2.5e3, {"y": null}] } ] }`),
		[]byte(`{"records":[{"sequenceNumber":"2","partitionKey":"","data":""}],"action":"processRecords","millisBehindLatest":null}`),
		[]byte(`{"action":"processRecords","records":[{"data":"YQ==","partitionKey":"ключ","sequenceNumber":"1","approximateArrivalTimestamp":-1,"subSequenceNumber":null,"action":"record"}],"millisBehindLatest":123456789012345678}`),
		[]byte(`{"action":"newThing","x":{"y":[1,2,{"z":null}]},"n":true}`),
	)
}

func TestFastPathTakesTheDaemonsLines(t *testing.T) {
	for _, line := range fastLines(t) {
		m, ok := fastDecode(line)
		require.True(t, ok, "%.300s", line)
		want, err := slowDecode(line)
		require.NoError(t, err)
		assert.Equal(t, want, m, "%.300s", line)
	}
}

// bailLines are valid lines the fast path must leave to the slow path.
var bailLines = []string{
	`{"action":"processRecords","records":[{"data":"YQ==","partitionKey":"k","sequenceNumber":"1"},{"data":"YQ==","partitionKey":"c\"t","sequenceNumber":"2"}]}`,
	`{"action":"processRecords","records":[{"data":"YQ==","partitionKey":"k","sequenceNumber":"1"},{"data":"YQ==","PartitionKey":"x","partitionKey":"k","sequenceNumber":"2"}]}`,
	`{"action":"processRecords","records":[{"data":"YQ==","partitionKey":"k","sequenceNumber":"1"},{"data":"YQ==","data":"Yg==","partitionKey":"k","sequenceNumber":"2"}]}`,
	`{"action":"processRecords","records":[{"data":"YQ==","partitionKey":"k","sequenceNumber":"1"}],"millisBehindLatest":1234567890123456789}`,
	`{"action":"processRecords","records":[{"data":"YQ==","partitionKey":"k","sequenceNumber":"1"}],"x":"\u00e9"}`,
	`{"action":"initialize","shardId":"s\u0041"}`,
	`{"Action":"leaseLost"}`,
}

func TestFastPathBailsAndSlowPathDecides(t *testing.T) {
	for _, line := range bailLines {
		_, ok := fastDecode([]byte(line))
		assert.False(t, ok, line)
		want, err := slowDecode([]byte(line))
		require.NoError(t, err, line)
		// The streaming decoder decodes records in place before it bails on
		// a later one: the line must be restored for the slow path.
		d := NewDecoder(strings.NewReader(line + "\n" + line + "\n"))
		for range 2 {
			got, err := d.Next()
			require.NoError(t, err)
			assert.Equal(t, want, got, line)
		}
	}
}

// TestDecoderAllocsPerLine: the number of allocations of Next on a
// processRecords line does not depend on its number of records.
func TestDecoderAllocsPerLine(t *testing.T) {
	allocs := func(n int) float64 {
		line := batchLine(n, 100)
		d := NewDecoder(&repeatReader{b: line})
		_, err := d.Next() // warm up the buffers
		require.NoError(t, err)
		return testing.AllocsPerRun(20, func() {
			m, err := d.Next()
			if err != nil || len(m.(ProcessRecords).Records) != n {
				t.Fatal(err)
			}
		})
	}
	small, big := allocs(10), allocs(10000)
	assert.Equal(t, small, big)
	assert.LessOrEqual(t, big, 3.0) // the keys string, the boxed message, MillisBehindLatest
}

// randomLine is a processRecords line of random data: decoded in place, it
// puts '\n' bytes in the decoder's buffer.
func randomLine(n, size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]Record, n)
	for i := range recs {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		recs[i] = Record{Data: data, PartitionKey: "pk", SequenceNumber: strconv.Itoa(i + 1)}
	}
	return append(AppendMessage(nil, ProcessRecords{Records: recs}), '\n')
}

// chunkReader returns at most n bytes a read, as a pipe does.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), c.n, len(c.b))
	copy(p, c.b[:k])
	c.b = c.b[k:]
	return k, nil
}

func TestRandomDataStaysOnTheFastPath(t *testing.T) {
	line := randomLine(2000, 100)
	want, err := slowDecode(bytes.TrimSuffix(line, []byte("\n")))
	require.NoError(t, err)
	for _, n := range []int{1 << 10, 4 << 10, 64 << 10, 1 << 20} {
		d := NewDecoder(&chunkReader{b: bytes.Repeat(line, 2), n: n})
		for range 2 {
			m, ok := d.nextFast()
			require.True(t, ok, "chunks of %d", n)
			assert.Equal(t, want, m)
		}
	}
}

func TestInPlaceDecodeKeepsTheNextLine(t *testing.T) {
	line := string(batchLine(50, 300))
	for _, r := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader} {
		d := NewDecoder(r(strings.NewReader(line + line + `{"action":"leaseLost"}` + "\n")))
		for range 2 {
			m, err := d.Next()
			require.NoError(t, err)
			recs := m.(ProcessRecords).Records
			require.Len(t, recs, 50)
			assert.Equal(t, bytes.Repeat([]byte{0xa5}, 300), recs[49].Data)
		}
		m, err := d.Next()
		require.NoError(t, err)
		assert.Equal(t, LeaseLost{}, m)
	}
}

// FuzzFastVsSlow checks the fast path against encoding/json on the same
// input: the same message, or the fast path gives up. The streaming Decoder
// (fast path with in-place data, slow path after a bail) must give exactly
// what the slow path gives, errors included, and leave the next line intact.
func FuzzFastVsSlow(f *testing.F) {
	for _, l := range fastLines(f) {
		f.Add(l)
	}
	for _, l := range bailLines {
		f.Add([]byte(l))
	}
	f.Add(bytes.TrimSuffix(randomLine(20, 30), []byte("\n")))
	seeds, err := os.ReadFile("testdata/seeds.jsonl")
	require.NoError(f, err)
	for _, l := range strings.Split(string(seeds), "\n") {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		want, wantErr := slowDecode(line)
		if got, ok := fastDecode(line); ok {
			if wantErr != nil {
				t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", wantErr, line)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fast %#v\nslow %#v\nline %q", got, want, line)
			}
		}
		if bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		in := bytes.TrimSuffix(line, []byte("\r"))
		want, wantErr = slowDecode(in)
		if len(bytes.TrimSpace(in)) == 0 {
			want, wantErr = LeaseLost{}, nil
		}
		var de *DecodeError
		if errors.As(wantErr, &de) {
			de.Line = 1
		}
		stream := append(append([]byte{}, line...), "\n{\"action\":\"leaseLost\"}\n"...)
		for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader} {
			d := NewDecoder(wrap(bytes.NewReader(stream)))
			got, err := d.Next()
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("Next: error %v, want %v; line %q", err, wantErr, line)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("Next: %#v\nwant %#v\nline %q", got, want, line)
			}
			if len(bytes.TrimSpace(in)) == 0 {
				continue
			}
			if got, err := d.Next(); err != nil || got != (LeaseLost{}) {
				t.Fatalf("the line after: %v, %v; line %q", got, err, line)
			}
		}
	})
}

func TestNewDecoderGrowsAPipe(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	d := NewDecoder(r)
	go func() { w.WriteString(`{"action":"leaseLost"}` + "\n") }()
	m, err := d.Next()
	require.NoError(t, err)
	assert.Equal(t, LeaseLost{}, m)
}

// TestBatchValidUntilTheNextBatch: a batch's Data stay valid while Next
// returns other messages (the checkpoint replies a processor waits for while
// it still uses its records), however the buffer has to make room for them.
func TestBatchValidUntilTheNextBatch(t *testing.T) {
	batch := randomLine(300, 200)
	want, err := slowDecode(bytes.TrimSuffix(batch, []byte("\n")))
	require.NoError(t, err)
	reply := []byte(`{"action":"checkpoint","sequenceNumber":"1","subSequenceNumber":0,"error":null}` + "\n")
	for _, replies := range []int{1, 100, 3000} { // 3000 replies fill any buffer
		var in []byte
		for range 3 {
			in = append(in, batch...)
			in = append(in, bytes.Repeat(reply, replies)...)
		}
		for _, n := range []int{1 << 10, 64 << 10, 1 << 20} {
			d := NewDecoder(&chunkReader{b: in, n: n})
			for range 3 {
				m, err := d.Next()
				require.NoError(t, err)
				require.Equal(t, want, m)
				recs := m.(ProcessRecords).Records
				for range replies {
					c, err := d.Next()
					require.NoError(t, err)
					require.IsType(t, Checkpoint{}, c)
				}
				require.Equal(t, want.(ProcessRecords).Records, recs, "after %d replies, reads of %d", replies, n)
			}
		}
	}
}

// TestInPlaceDecodeFailure: a record whose data goes wrong after AVX2 has
// decoded blocks of it in place (in a block, in the remainder, in the
// padding) leaves the line as it was for the slow path: Next gives the slow
// path's error, and the line after it.
func TestInPlaceDecodeFailure(t *testing.T) {
	valid := strings.Repeat("QUJD", 40) // 160 characters, 5 blocks
	rec := func(data string) string {
		return `{"data":"` + data + `","partitionKey":"pk","sequenceNumber":"1","approximateArrivalTimestamp":1,"subSequenceNumber":0,"action":"record"}`
	}
	var lines []string
	for _, bad := range []int{0, 40, 100, 129, 140, 157, 158, 159} {
		b := []byte(valid)
		b[bad] = '!'
		lines = append(lines, string(b))
		b[bad] = '='
		lines = append(lines, string(b))
	}
	lines = append(lines, valid[:156]+"QQ==", valid[:156]+"Q===", valid[:157])
	for _, data := range lines {
		line := `{"action":"processRecords","records":[` + rec(valid) + `,` + rec(data) + `,` + rec(valid) + `]}`
		want, wantErr := slowDecode([]byte(line))
		var de *DecodeError
		if errors.As(wantErr, &de) {
			de.Line = 1
		}
		stream := line + "\n{\"action\":\"leaseLost\"}\n"
		for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader, iotest.HalfReader} {
			d := NewDecoder(wrap(strings.NewReader(stream)))
			got, err := d.Next()
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("Next: error %v, want %v; data %q", err, wantErr, data)
			}
			if err == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("Next: %#v\nwant %#v\ndata %q", got, want, data)
			}
			if got, err := d.Next(); err != nil || got != (LeaseLost{}) {
				t.Fatalf("the line after: %v, %v; data %q", got, err, data)
			}
		}
	}
}
