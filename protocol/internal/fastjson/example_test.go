package fastjson_test

import (
	"fmt"

	"github.com/kclgo/kclgo/protocol/internal/fastjson"
)

// record has the layout fastjson.Records needs (protocol.Record's).
type record struct {
	Data                        []byte
	PartitionKey                string
	SequenceNumber              string
	SubSequenceNumber           int64
	ApproximateArrivalTimestamp int64
}

// A line arrives in two reads: Parse asks for more, then reads the rest.
// A line that is not of the daemon's shape is left to the slow path.
func ExampleParser_Parse() {
	line := []byte(`{"action":"processRecords","records":[{"data":"aGk=","partitionKey":"k","sequenceNumber":"7"}],"millisBehindLatest":0}` + "\n" + `{"action":"leaseLost"}` + "\n")
	var p fastjson.Parser
	p.Reset(true, false)
	_, _, st := p.Parse(line[:40])
	fmt.Println(st == fastjson.More)
	m, n, st := p.Parse(line)
	recs := fastjson.Records[record](&p, line)
	p.Keep()
	fmt.Println(st == fastjson.Done, string(m.Action), n, string(recs[0].Data), recs[0].SequenceNumber)

	p.Reset(false, true)
	_, _, st = p.Parse([]byte(`{"action":"leaseLost","x":"\u00e9"}`))
	fmt.Println(st == fastjson.NotMine)
	// Output:
	// true
	// true processRecords 119 hi 7
	// true
}
