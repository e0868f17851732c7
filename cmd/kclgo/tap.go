package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"github.com/kclgo/kclgo/protocol"
)

// tapSocketEnv names the Unix socket kclgo local listens on for the taps'
// events. The daemon passes its environment to its children.
const tapSocketEnv = "KCLGO_TAP_SOCKET"

// event is what a tap tells kclgo local, one JSON line each.
type event struct {
	Shard string `json:"shard"`
	// Records: positions delivered in one processRecords, in order.
	Records []position `json:"records,omitempty"`
	// Behind is the batch's millisBehindLatest (-1: not sent).
	Behind int64 `json:"behind,omitempty"`
	// Checkpoint: a checkpoint the daemon accepted, resolved to a position
	// (a null one to the last record delivered; at shard end: End).
	Checkpoint *position `json:"checkpoint,omitempty"`
	// Action: a lifecycle message other than processRecords (initialize,
	// shardEnded, leaseLost, shutdownRequested, shutdown REASON).
	Action string `json:"action,omitempty"`
	// Exit: the child exited with this status.
	Exit *int `json:"exit,omitempty"`
}

// position is a record's place in its shard: sequence number and
// sub-sequence number; End marks the end of the shard.
type position struct {
	Seq string `json:"s,omitempty"`
	Sub int64  `json:"u,omitempty"`
	End bool   `json:"e,omitempty"`
}

// less orders positions numerically; the end of the shard is after all.
func (p position) less(q position) bool {
	if p.End || q.End {
		return !p.End && q.End
	}
	if len(p.Seq) != len(q.Seq) {
		return len(p.Seq) < len(q.Seq)
	}
	if p.Seq != q.Seq {
		return p.Seq < q.Seq
	}
	return p.Sub < q.Sub
}

// tapCmd is the hidden kclgo tap: it runs the child command with its stdin
// and stdout piped through, forwarding both directions byte for byte, and
// reports what it read in the protocol to $KCLGO_TAP_SOCKET. Signals it gets
// are passed to the child; its exit status is the child's.
func tapCmd(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: kclgo tap -- CHILD ARGS... (started by kclgo local through the daemon's executableName)")
		return 2
	}
	var report io.Writer = io.Discard
	if path := os.Getenv(tapSocketEnv); path != "" {
		if c, err := net.Dial("unix", path); err == nil {
			defer c.Close()
			report = c
		} else {
			fmt.Fprintf(os.Stderr, "kclgo tap: no progress reports (%v); forwarding anyway\n", err)
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	toChild, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kclgo tap:", err)
		return 1
	}
	fromChild, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kclgo tap:", err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "kclgo tap:", err)
		return 127
	}
	go func() {
		for sig := range sigs {
			_ = cmd.Process.Signal(sig)
		}
	}()
	t := newTap(report)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		forward(toChild, os.Stdin, t.fromDaemon)
		toChild.Close() // the daemon closed our stdin: close the child's
	}()
	go func() {
		defer wg.Done()
		forward(os.Stdout, fromChild, t.fromChild)
		os.Stdout.Close()
	}()
	err = cmd.Wait()
	signal.Stop(sigs)
	close(sigs)
	code, werr := exitCode(err)
	if werr != nil {
		code = 1
	}
	t.send(event{Exit: &code})
	// The daemon may keep our stdin open after the child died: do not wait
	// for the daemon-to-child copy, only for the child's output.
	return code
}

// forward copies src to dst as it arrives. Every complete line is handed
// to observe (a copy it may keep) before the chunk holding its end is
// written: what the tap reads of a message is recorded before the other
// side can answer it. It returns at src's end or dst's failure.
func forward(dst io.Writer, src io.Reader, observe func([]byte)) {
	buf := make([]byte, 256<<10)
	var pending []byte
	for {
		n, err := src.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			for {
				i := bytes.IndexByte(chunk, '\n')
				if i < 0 {
					pending = append(pending, chunk...)
					break
				}
				if len(pending) > 0 {
					pending = append(pending, chunk[:i]...)
					observe(bytes.Clone(pending))
					pending = pending[:0]
				} else {
					observe(bytes.Clone(chunk[:i]))
				}
				chunk = chunk[i+1:]
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// tap follows one child's conversation.
type tap struct {
	mu      sync.Mutex
	enc     *json.Encoder
	shard   string
	action  string     // the daemon's outstanding action
	last    position   // last record delivered in this process
	batch   *position  // last record of the outstanding processRecords
	pending []position // checkpoints asked for, waiting for the daemon's reply
}

func newTap(w io.Writer) *tap { return &tap{enc: json.NewEncoder(w)} }

func (t *tap) send(e event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sendLocked(e)
}

func (t *tap) sendLocked(e event) {
	if e.Shard == "" {
		e.Shard = t.shard
	}
	_ = t.enc.Encode(e) // progress is best effort; the conversation is not
}

// fromDaemon observes one line the daemon sent the child.
func (t *tap) fromDaemon(line []byte) {
	m, err := protocol.Decode(line)
	if err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch m := m.(type) {
	case protocol.Checkpoint: // the reply to the child's checkpoint
		if len(t.pending) == 0 {
			return
		}
		p := t.pending[0]
		t.pending = t.pending[1:]
		if m.Error == "" {
			t.sendLocked(event{Checkpoint: &p})
		}
		return
	case protocol.Initialize:
		t.shard = m.ShardID
		t.action = m.Action()
		t.sendLocked(event{Action: m.Action()})
	case protocol.ProcessRecords:
		t.action = m.Action()
		e := event{Records: make([]position, len(m.Records)), Behind: -1}
		if m.MillisBehindLatest != nil {
			e.Behind = *m.MillisBehindLatest
		}
		for i, r := range m.Records {
			e.Records[i] = position{Seq: r.SequenceNumber, Sub: r.SubSequenceNumber}
		}
		t.batch = nil
		if n := len(e.Records); n > 0 {
			t.last = e.Records[n-1]
			t.batch = &t.last
		}
		t.sendLocked(e)
	case protocol.Shutdown:
		t.action = m.Action() + " " + m.Reason
		t.sendLocked(event{Action: t.action})
	default:
		t.action = m.Action()
		t.sendLocked(event{Action: t.action})
	}
}

// fromChild observes one line the child sent the daemon.
func (t *tap) fromChild(line []byte) {
	m, err := protocol.Decode(line)
	if err != nil {
		return
	}
	c, ok := m.(protocol.Checkpoint)
	if !ok {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var p position
	switch {
	case c.SequenceNumber != nil:
		p = position{Seq: *c.SequenceNumber}
		if c.SubSequenceNumber != nil {
			p.Sub = *c.SubSequenceNumber
		}
	case t.action == protocol.ActionShardEnded || t.action == protocol.ActionShutdown+" "+protocol.ReasonTerminate ||
		t.action == protocol.ActionShutdown+" "+protocol.ReasonShardEnd:
		p = position{End: true}
	case t.action == protocol.ActionProcessRecords && t.batch != nil:
		p = *t.batch
	default:
		p = t.last // shutdownRequested: after the last record delivered
	}
	t.pending = append(t.pending, p)
}
