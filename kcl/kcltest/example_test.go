package kcltest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// The checkpoints of a run, as values: where the child asked to
// checkpoint, during which action, and what the daemon replied.
func ExampleTranscript_Checkpoints() {
	d := &kcltest.Daemon{
		Script:           kcltest.Lifecycle("shardId-000000000000", protocol.ShardEnded{}, kcltest.Records(0, 100, 0)),
		CheckpointErrors: []string{"ThrottlingException"},
	}
	res := d.RunProcessor(context.Background(), &myProcessor{})
	for _, c := range res.Transcript.Checkpoints() {
		reply := c.Error
		if reply == "" {
			reply = "accepted"
		}
		fmt.Printf("%s: %q %s\n", c.During, c.SequenceNumber, reply)
	}
	fmt.Println("records acknowledged:", res.Transcript.Processed(), "stored:", res.Checkpoint)
	// Output:
	// processRecords: "" ThrottlingException
	// processRecords: "" accepted
	// shardEnded: "" accepted
	// records acknowledged: 100 stored: SHARD_END
}

// TestReadmeSnippet: the README's test snippet is readme_test.go, word for
// word but for the package clause, so it compiles and passes as it stands.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("readme_test.go")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.TrimPrefix(string(file), "package kcltest_test\n")
	if !strings.Contains(string(readme), "```go\npackage myproc_test\n"+body+"```\n") {
		t.Errorf("README.md has no ```go block equal to kcl/kcltest/readme_test.go with \"package myproc_test\"; copy the file into the README")
	}
}
