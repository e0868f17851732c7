package cwlogs_test

import (
	"fmt"
	"os"

	"github.com/kclgo/kclgo/cwlogs"
)

// A Kinesis record put by a subscription filter: skip control messages,
// handle each log event.
func ExampleParse() {
	data, err := os.ReadFile("testdata/kinesis-data-message.json.gz") // a record's Data
	if err != nil {
		panic(err)
	}
	m, err := cwlogs.Parse(data)
	if err != nil {
		fmt.Println(err) // not a subscription payload: dead-letter it
		return
	}
	if m.IsControl() {
		return
	}
	for _, e := range m.LogEvents {
		fmt.Println(m.LogGroup, e.Timestamp.Format("2006-01-02T15:04:05Z"), e.ID[:8])
	}
	// Output:
	// CloudTrail/logs 2015-05-28T15:27:35Z 31953106
	// CloudTrail/logs 2015-05-28T15:27:35Z 31953106
	// CloudTrail/logs 2015-05-28T15:27:35Z 31953106
}
