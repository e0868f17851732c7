// Package kcltest is a fake KCL MultiLangDaemon for testing record
// processors without Java, in the spirit of net/http/httptest: a [Daemon]
// plays a script of messages to a processor through the real protocol,
// answers its checkpoints as the real daemon does (or with scripted errors),
// and returns a [Transcript] of every line exchanged.
//
// It drives a processor in the test's own process over pipes
// ([Daemon.RunProcessor]) or a real child process over its stdin and stdout
// ([Daemon.RunCommand]).
package kcltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kclgo/kclgo/kcl"
	"github.com/kclgo/kclgo/protocol"
)

// Daemon is a scripted fake daemon. The zero Daemon with a Script is ready
// to use.
type Daemon struct {
	// Script is the messages to send, in order. The daemon sends each one
	// only after the child answered the previous one, as the real one does.
	Script []protocol.Message
	// CheckpointErrors scripts the replies to the child's checkpoint
	// requests, in order: an exception name such as "ThrottlingException",
	// or "" to process the checkpoint normally. When they run out, every
	// checkpoint is processed by the real daemon's rules.
	CheckpointErrors []string
	// Timeout bounds each wait for a line from the child. Zero means 30 s.
	Timeout time.Duration
}

// Result is the outcome of a run.
type Result struct {
	// Transcript is every line exchanged, in order.
	Transcript Transcript
	// Checkpoint is the checkpoint stored at the end: a sequence number
	// with its sub-sequence number ("49590/0"), "SHARD_END", or the
	// initial position when the child never checkpointed.
	Checkpoint string
	// DaemonErr is what the real daemon would have stopped on: the child
	// ended without answering, answered the wrong action, or timed out.
	DaemonErr error
	// ChildErr is what the processor's Serve returned, or the child
	// process's exit error.
	ChildErr error
	// Stderr is what a child process wrote to stderr (RunCommand only).
	Stderr string
}

// RunProcessor plays the script to p, served by kcl.Serve in this process
// over pipes, and returns when the conversation is over. When ctx ends the
// pipes are closed; a processor that still does not return within the
// Timeout is reported in ChildErr (and its goroutine is left behind).
func (d *Daemon) RunProcessor(ctx context.Context, p kcl.RecordProcessor, opts ...kcl.Option) *Result {
	toChildR, toChildW := io.Pipe()
	fromChildR, fromChildW := io.Pipe()
	stop := context.AfterFunc(ctx, func() {
		toChildR.CloseWithError(ctx.Err())
		fromChildR.CloseWithError(ctx.Err())
	})
	defer stop()
	served := make(chan error, 1)
	go func() {
		err := kcl.Serve(ctx, p, toChildR, fromChildW, opts...)
		toChildR.CloseWithError(errors.New("child stopped reading"))
		fromChildW.Close()
		served <- err
	}()
	res := d.drive(fromChildR, toChildW)
	select {
	case res.ChildErr = <-served:
	case <-time.After(d.timeout()):
		res.ChildErr = fmt.Errorf("kcltest: the processor did not return within %s after stdin was closed", d.timeout())
	}
	return res
}

func (d *Daemon) timeout() time.Duration {
	if d.Timeout == 0 {
		return 30 * time.Second
	}
	return d.Timeout
}

// RunCommand starts cmd (which must not have started yet, and whose Stdin
// and Stdout must be unset) as the child, plays the script to it, and waits
// for it to exit.
func (d *Daemon) RunCommand(ctx context.Context, cmd *exec.Cmd) *Result {
	var stderr bytes.Buffer
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return &Result{ChildErr: err}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return &Result{ChildErr: err}
	}
	if err := cmd.Start(); err != nil {
		return &Result{ChildErr: err}
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	defer stop()
	res := d.drive(out, in)
	res.ChildErr = cmd.Wait()
	res.Stderr = stderr.String()
	return res
}

// drive runs the conversation: child's stdout is read from r, its stdin is
// written to w.
func (d *Daemon) drive(r io.Reader, w io.WriteCloser) *Result {
	done := make(chan struct{})
	defer close(done)
	c := &conversation{d: d, w: w, lines: readLines(r, done), timeout: d.timeout(), errs: d.CheckpointErrors}
	for _, m := range d.Script {
		if err := c.send(m); err != nil {
			c.res.DaemonErr = err
			break
		}
		if err := c.awaitStatus(m.Action()); err != nil {
			c.res.DaemonErr = err
			break
		}
	}
	w.Close() // EOF tells the child to exit
	c.drain()
	c.res.Checkpoint = c.state.stored
	return &c.res
}

type lineOrErr struct {
	line string
	err  error
}

// readLines reads the child's lines until an error, or until done is
// closed and nobody reads any more.
func readLines(r io.Reader, done <-chan struct{}) <-chan lineOrErr {
	ch := make(chan lineOrErr, 16)
	go func() {
		defer close(ch)
		lr := protocol.NewLineReader(r)
		for {
			line, err := lr.ReadLine()
			l := lineOrErr{line: string(line), err: err}
			select {
			case ch <- l:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

type conversation struct {
	d       *Daemon
	w       io.Writer
	lines   <-chan lineOrErr
	timeout time.Duration
	errs    []string
	state   checkpointState
	res     Result
	enc     []byte
}

func (c *conversation) send(m protocol.Message) error {
	c.state.begin(m)
	c.enc = append(protocol.AppendMessage(c.enc[:0], m), '\n')
	c.res.Transcript = append(c.res.Transcript, Line{Raw: string(c.enc[:len(c.enc)-1]), Message: m})
	if _, err := c.w.Write(c.enc); err != nil {
		return fmt.Errorf("kcltest: writing %s: the child closed stdin: %w", m.Action(), err)
	}
	return nil
}

// next returns the child's next line, recorded in the transcript.
func (c *conversation) next() (Line, error) {
	select {
	case l, ok := <-c.lines:
		if !ok || l.err != nil {
			if !ok || l.err == io.EOF {
				return Line{}, io.EOF
			}
			return Line{}, l.err
		}
		line := Line{FromChild: true, Raw: l.line}
		if strings.TrimSpace(l.line) != "" {
			if m, err := protocol.Decode([]byte(l.line)); err == nil && isChildMessage(m) && exactKeys(l.line, m) {
				line.Message = m
			}
		}
		c.res.Transcript = append(c.res.Transcript, line)
		return line, nil
	case <-time.After(c.timeout):
		return Line{}, fmt.Errorf("kcltest: no line from the child for %s", c.timeout)
	}
}

func (c *conversation) awaitStatus(action string) error {
	for {
		line, err := c.next()
		if err == io.EOF {
			return fmt.Errorf("kcltest: the child closed stdout before answering %s", action)
		}
		if err != nil {
			return err
		}
		switch m := line.Message.(type) {
		case protocol.Status:
			if m.ResponseFor != action {
				return fmt.Errorf("kcltest: the child answered %q while %q was outstanding", m.ResponseFor, action)
			}
			return nil
		case protocol.Checkpoint:
			name := c.state.checkpoint(m)
			if len(c.errs) > 0 {
				if c.errs[0] != "" {
					name = c.errs[0]
				}
				c.errs = c.errs[1:]
			}
			reply := protocol.Checkpoint{SequenceNumber: m.SequenceNumber, SubSequenceNumber: m.SubSequenceNumber, Error: name}
			if err := c.send(reply); err != nil {
				return err
			}
		}
		// Anything else is skipped, as the real daemon skips it.
	}
}

// drain reads the child's stdout to its end after stdin was closed.
func (c *conversation) drain() {
	for {
		if _, err := c.next(); err != nil {
			return
		}
	}
}

func isChildMessage(m protocol.Message) bool {
	switch m.(type) {
	case protocol.Status, protocol.Checkpoint:
		return true
	}
	return false
}

// exactKeys reports whether line has only the keys the daemon accepts for
// m: the real daemon skips a line with an unknown key.
func exactKeys(line string, m protocol.Message) bool {
	var allowed []string
	switch m.(type) {
	case protocol.Status:
		allowed = []string{"action", "responseFor"}
	case protocol.Checkpoint:
		allowed = []string{"action", "sequenceNumber", "subSequenceNumber", "error"}
	}
	keys, err := topLevelKeys(line)
	if err != nil {
		return false
	}
	for _, k := range keys {
		found := false
		for _, a := range allowed {
			found = found || a == k
		}
		if !found {
			return false
		}
	}
	return true
}

// checkpointState applies the real daemon's checkpoint rules.
type checkpointState struct {
	action   string
	zombie   bool
	largest  string // largest (seq/sub) delivered, "" before any record
	stored   string
	shardEnd bool
}

func (s *checkpointState) begin(m protocol.Message) {
	switch m := m.(type) {
	case protocol.Checkpoint:
		return
	case protocol.Initialize:
		if m.SequenceNumber != nil {
			s.stored = *m.SequenceNumber
		}
	case protocol.ProcessRecords:
		if n := len(m.Records); n > 0 {
			s.largest = pos(m.Records[n-1].SequenceNumber, m.Records[n-1].SubSequenceNumber)
		}
	case protocol.ShardEnded:
		s.shardEnd = true
	case protocol.Shutdown:
		s.shardEnd = m.Reason == protocol.ReasonTerminate || m.Reason == protocol.ReasonShardEnd
		s.zombie = !s.shardEnd
	}
	s.action = m.Action()
}

func pos(seq string, sub int64) string { return seq + "/" + strconv.FormatInt(sub, 10) }

// checkpoint returns the error name the real daemon would reply with, and
// stores the checkpoint when it succeeds.
func (s *checkpointState) checkpoint(m protocol.Checkpoint) string {
	switch s.action {
	case protocol.ActionProcessRecords, protocol.ActionShardEnded, protocol.ActionShutdownRequested, protocol.ActionShutdown:
	default:
		return protocol.ExceptionInvalidState
	}
	if s.zombie {
		return protocol.ExceptionShutdown
	}
	if m.SequenceNumber == nil {
		switch {
		case s.shardEnd:
			s.stored = protocol.SentinelShardEnd
		case s.largest != "":
			s.stored = s.largest
		}
		return ""
	}
	var sub int64
	if m.SubSequenceNumber != nil {
		sub = *m.SubSequenceNumber
	}
	if sub < 0 || !isDigits(*m.SequenceNumber) || s.largest == "" {
		return protocol.ExceptionIllegalArgument
	}
	p := pos(*m.SequenceNumber, sub)
	if comparePos(p, s.largest) > 0 || (isDigits(seqOf(s.stored)) && comparePos(p, s.stored) < 0) {
		return protocol.ExceptionIllegalArgument
	}
	s.stored = p
	if s.shardEnd && p == s.largest {
		s.stored = protocol.SentinelShardEnd
	}
	return ""
}

func seqOf(p string) string { return strings.SplitN(p, "/", 2)[0] }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// comparePos compares two "seq/sub" positions numerically.
func comparePos(a, b string) int {
	as, asub, _ := strings.Cut(a, "/")
	bs, bsub, _ := strings.Cut(b, "/")
	as, bs = strings.TrimLeft(as, "0"), strings.TrimLeft(bs, "0")
	if len(as) != len(bs) {
		return len(as) - len(bs)
	}
	if c := strings.Compare(as, bs); c != 0 {
		return c
	}
	x, _ := strconv.ParseInt(asub, 10, 64)
	y, _ := strconv.ParseInt(bsub, 10, 64)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
