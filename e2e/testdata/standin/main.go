// Command standin is a minimal MultiLangDaemon record processor that honours
// the kclgo sample processor contract, for the end-to-end tests until the
// SDK's samples exist. It speaks the 2.x/3.x protocol (leaseLost, shardEnded,
// shutdownRequested) and the 1.x one (shutdown with TERMINATE/ZOMBIE).
//
// Environment:
//   - KCLGO_RECORD_LOG=PATH: append "R\tshard\tpk\tseq\tsubseq" per finished
//     record and "C\tshard\tseq\tsubseq" per successful checkpoint.
//   - KCLGO_SAMPLE_FAIL_BATCH=N: the N-th processRecords call of this
//     process sends no status and the process exits with status 3.
//   - KCLGO_CHECKPOINT_EVERY=N: checkpoint every N records (default: at the
//     end of every processRecords batch).
//   - KCLGO_CHECKPOINT_SECONDS=S: checkpoint at the end of a batch only when
//     S seconds passed since the last one.
//   - KCLGO_TRANSCRIPT=PATH: append every line read from and written to the
//     daemon, as JSON {"t_ms","pid","dir":"in"|"out","line"} (records lists
//     are not shortened).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

type record struct {
	PartitionKey      string          `json:"partitionKey"`
	SequenceNumber    string          `json:"sequenceNumber"`
	SubSequenceNumber json.RawMessage `json:"subSequenceNumber"`
}

type message struct {
	Action            string          `json:"action"`
	ShardID           string          `json:"shardId"`
	Reason            string          `json:"reason"`
	Records           []record        `json:"records"`
	SequenceNumber    *string         `json:"sequenceNumber"`
	SubSequenceNumber json.RawMessage `json:"subSequenceNumber"`
	Error             *string         `json:"error"`
}

type child struct {
	trace    *os.File
	start    time.Time
	in       *bufio.Reader
	out      *os.File
	log      *os.File
	shard    string
	batches  int
	failAt   int
	every    int
	seconds  int
	sinceCP  int
	lastCP   time.Time
	lastSeq  string
	lastSub  json.RawMessage
	haveLast bool
}

func main() {
	c := &child{in: bufio.NewReaderSize(os.Stdin, 1<<20), out: os.Stdout, lastCP: time.Now(), start: time.Now()}
	if p := os.Getenv("KCLGO_TRANSCRIPT"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "standin:", err)
			os.Exit(2)
		}
		c.trace = f
	}
	c.failAt, _ = strconv.Atoi(os.Getenv("KCLGO_SAMPLE_FAIL_BATCH"))
	c.every, _ = strconv.Atoi(os.Getenv("KCLGO_CHECKPOINT_EVERY"))
	c.seconds, _ = strconv.Atoi(os.Getenv("KCLGO_CHECKPOINT_SECONDS"))
	if p := os.Getenv("KCLGO_RECORD_LOG"); p != "" {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "standin:", err)
			os.Exit(2)
		}
		c.log = f
	}
	if err := c.run(); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func (c *child) read() (*message, error) {
	for {
		line, err := c.in.ReadBytes('\n')
		if len(line) == 0 || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		c.traceLine("in", line)
		if len(line) <= 1 {
			continue
		}
		var m message
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("decode %q: %w", line, err)
		}
		return &m, nil
	}
}

func (c *child) write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.traceLine("out", b)
	_, err = c.out.Write(append(b, '\n'))
	return err
}

func (c *child) traceLine(dir string, line []byte) {
	if c.trace == nil {
		return
	}
	b, _ := json.Marshal(map[string]any{
		"t_ms": time.Since(c.start).Milliseconds(), "pid": os.Getpid(), "dir": dir,
		"line": string(bytes.TrimRight(line, "\n")),
	})
	_, _ = c.trace.Write(append(b, '\n'))
}

func (c *child) logLine(s string) {
	if c.log != nil {
		_, _ = c.log.WriteString(s) // one write call per line
	}
}

func raw(r json.RawMessage) string {
	if len(r) == 0 || string(r) == "null" {
		return ""
	}
	return string(r)
}

// checkpoint asks the daemon to checkpoint at seq (nil: the largest record
// delivered, or SHARD_END at a shard's end) and logs it when it worked.
func (c *child) checkpoint(seq *string, sub json.RawMessage) error {
	var subVal any
	if len(sub) > 0 && string(sub) != "null" {
		subVal = sub
	}
	if err := c.write(map[string]any{"action": "checkpoint", "sequenceNumber": seq, "subSequenceNumber": subVal}); err != nil {
		return err
	}
	reply, err := c.read()
	if err != nil {
		return fmt.Errorf("waiting for checkpoint reply: %w", err)
	}
	if reply.Action != "checkpoint" {
		return fmt.Errorf("got %q while waiting for a checkpoint reply", reply.Action)
	}
	if reply.Error != nil {
		fmt.Fprintf(os.Stderr, "standin: shard %s: checkpoint failed: %s\n", c.shard, *reply.Error)
		return nil
	}
	s := ""
	if seq != nil {
		s = *seq
	}
	c.logLine(fmt.Sprintf("C\t%s\t%s\t%s\n", c.shard, s, raw(sub)))
	c.sinceCP, c.lastCP = 0, time.Now()
	return nil
}

func (c *child) run() error {
	for {
		m, err := c.read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m.Action {
		case "initialize":
			c.shard = m.ShardID
		case "processRecords":
			c.batches++
			if c.batches == c.failAt {
				fmt.Fprintf(os.Stderr, "standin: shard %s: failing processRecords call %d as asked\n", c.shard, c.batches)
				os.Exit(3)
			}
			for _, r := range m.Records {
				c.logLine(fmt.Sprintf("R\t%s\t%s\t%s\t%s\n", c.shard, r.PartitionKey, r.SequenceNumber, raw(r.SubSequenceNumber)))
				c.lastSeq, c.lastSub, c.haveLast = r.SequenceNumber, r.SubSequenceNumber, true
				c.sinceCP++
				if c.every > 0 && c.sinceCP >= c.every {
					seq := r.SequenceNumber
					if err := c.checkpoint(&seq, r.SubSequenceNumber); err != nil {
						return err
					}
				}
			}
			due := c.every == 0 && (c.seconds == 0 || time.Since(c.lastCP) >= time.Duration(c.seconds)*time.Second)
			if due && c.sinceCP > 0 && c.haveLast {
				seq := c.lastSeq
				if err := c.checkpoint(&seq, c.lastSub); err != nil {
					return err
				}
			}
		case "shardEnded":
			if err := c.checkpoint(nil, nil); err != nil {
				return err
			}
		case "shutdown":
			if m.Reason == "TERMINATE" {
				if err := c.checkpoint(nil, nil); err != nil {
					return err
				}
			}
		case "shutdownRequested":
			if c.haveLast && c.sinceCP > 0 {
				seq := c.lastSeq
				if err := c.checkpoint(&seq, c.lastSub); err != nil {
					return err
				}
			}
		case "leaseLost":
		default:
			return fmt.Errorf("unknown action %q", m.Action)
		}
		if err := c.write(map[string]string{"action": "status", "responseFor": m.Action}); err != nil {
			return err
		}
	}
}
