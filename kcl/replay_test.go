package kcl_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/kcl/kcltest"
	"github.com/kclgo/kclgo/protocol"
)

// TestReplayRealDaemons replays what Amazon's real daemons (KCL 1.15.3 and
// 3.1.3, testdata/transcripts) sent each child to a kclgo PerRecord
// processor through the fake daemon, and checks that it answers the same
// actions, in the same order, as the child the daemon accepted did.
func TestReplayRealDaemons(t *testing.T) {
	files, err := filepath.Glob("testdata/transcripts/*.jsonl")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		for pid, conv := range readConversations(t, file) {
			t.Run(filepath.Base(file)+"/"+pid, func(t *testing.T) {
				var script []protocol.Message
				for _, line := range conv.in {
					m, err := protocol.Decode([]byte(line))
					require.NoError(t, err, line)
					if _, reply := m.(protocol.Checkpoint); !reply {
						script = append(script, m)
					}
				}
				p := &kcl.PerRecord{Handle: func(context.Context, kcl.Record) (bool, error) { return false, nil }}
				d := &kcltest.Daemon{Script: script, Timeout: 10 * time.Second}
				res := d.RunProcessor(context.Background(), p, kcl.WithLogLevel(zerolog.Disabled))
				require.NoError(t, res.ChildErr)
				var statuses []string
				for _, l := range res.Transcript.FromChild() {
					if s, ok := l.Message.(protocol.Status); ok {
						statuses = append(statuses, s.ResponseFor)
					}
				}
				// The real child may have been cut off (SIGKILL, EOF):
				// kclgo answers at least every action it answered.
				require.GreaterOrEqual(t, len(statuses), len(conv.statuses))
				assert.Equal(t, conv.statuses, statuses[:len(conv.statuses)])
				if conv.shardEnd {
					assert.Equal(t, "SHARD_END", res.Checkpoint)
				}
			})
		}
	}
}

type conversation struct {
	in       []string
	statuses []string
	shardEnd bool
}

func readConversations(t *testing.T, path string) map[string]*conversation {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	convs := map[string]*conversation{}
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var l struct {
			Dir  string `json:"dir"`
			Line string `json:"line"`
			Pid  int    `json:"pid"`
		}
		require.NoError(t, json.Unmarshal(s.Bytes(), &l))
		key := "pid" + strconv.Itoa(l.Pid)
		c := convs[key]
		if c == nil {
			c = &conversation{}
			convs[key] = c
		}
		m, err := protocol.Decode([]byte(l.Line))
		require.NoError(t, err, l.Line)
		switch l.Dir {
		case "in":
			c.in = append(c.in, l.Line)
			switch m := m.(type) {
			case protocol.ShardEnded:
				c.shardEnd = true
			case protocol.Shutdown:
				c.shardEnd = c.shardEnd || m.Reason == protocol.ReasonTerminate
			}
		case "out":
			if st, ok := m.(protocol.Status); ok {
				c.statuses = append(c.statuses, st.ResponseFor)
			}
		}
	}
	require.NoError(t, s.Err())
	return convs
}
