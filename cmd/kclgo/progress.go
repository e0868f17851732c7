package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"

	"github.com/kclgo/kclgo/protocol"
)

// progress gathers the taps' events: per shard, the records delivered
// (each position once, however often it was delivered again) and the
// highest checkpoint the daemon accepted.
type progress struct {
	mu     sync.Mutex
	shards map[string]*shardProgress
}

type shardProgress struct {
	delivered  map[position]struct{}
	checkpoint *position
	behind     int64
	last       string // last lifecycle action
	children   int    // child processes started (initialize)
}

func newProgress() *progress { return &progress{shards: map[string]*shardProgress{}} }

func (p *progress) shard(id string) *shardProgress {
	s := p.shards[id]
	if s == nil {
		s = &shardProgress{delivered: map[position]struct{}{}, behind: -1}
		p.shards[id] = s
	}
	return s
}

// add applies one event.
func (p *progress) add(e event) {
	if e.Shard == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.shard(e.Shard)
	for _, r := range e.Records {
		s.delivered[r] = struct{}{}
	}
	if e.Records != nil {
		s.behind = e.Behind
	}
	if c := e.Checkpoint; c != nil && (s.checkpoint == nil || s.checkpoint.less(*c)) {
		s.checkpoint = c
	}
	if e.Action != "" {
		s.last = e.Action
		if e.Action == "initialize" {
			s.children++
		}
	}
}

// serve reads events from every connection ln accepts until ln is closed.
func (p *progress) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReaderSize(c, 1<<20)
			for {
				line, err := r.ReadBytes('\n')
				if len(line) > 0 {
					var e event
					if json.Unmarshal(line, &e) == nil {
						p.add(e)
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// shardCount is one shard's counts.
type shardCount struct {
	Shard        string
	Delivered    int
	Checkpointed int    // delivered records at or below the checkpoint
	Checkpoint   string // the checkpoint: "seq/sub", "SHARD_END" or "none"
	Behind       int64  // millisBehindLatest of the last batch, -1 unknown
	Last         string // last lifecycle action
}

// counts returns every shard's counts, sorted by shard id.
func (p *progress) counts() []shardCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]shardCount, 0, len(p.shards))
	for id, s := range p.shards {
		c := shardCount{Shard: id, Delivered: len(s.delivered), Checkpoint: "none", Behind: s.behind, Last: s.last}
		if cp := s.checkpoint; cp != nil {
			c.Checkpoint = protocol.SentinelShardEnd
			if !cp.End {
				c.Checkpoint = fmt.Sprintf("%s/%d", cp.Seq, cp.Sub)
			}
			for r := range s.delivered {
				if !cp.less(r) {
					c.Checkpointed++
				}
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Shard < out[j].Shard })
	return out
}

// totals sums counts.
func totals(cs []shardCount) (delivered, checkpointed int) {
	for _, c := range cs {
		delivered += c.Delivered
		checkpointed += c.Checkpointed
	}
	return delivered, checkpointed
}

// statusLine is the one-line live view.
func statusLine(put int, cs []shardCount) string {
	d, c := totals(cs)
	var b strings.Builder
	fmt.Fprintf(&b, "delivered %d/%d, checkpointed %d/%d", d, put, c, put)
	for _, s := range cs {
		fmt.Fprintf(&b, " | %s %d/%d", shortShard(s.Shard), s.Checkpointed, s.Delivered)
		if s.Behind >= 0 {
			fmt.Fprintf(&b, " lag %dms", s.Behind)
		}
	}
	return b.String()
}

// shortShard turns shardId-000000000003 into #3.
func shortShard(id string) string {
	n := strings.TrimLeft(strings.TrimPrefix(id, "shardId-"), "0")
	if n == "" {
		n = "0"
	}
	return "#" + n
}

// report writes the final per-shard account and returns whether every
// record put was delivered and checkpointed; short names the shards that
// fell short.
func report(w io.Writer, put int, cs []shardCount) (ok bool, short []string) {
	d, c := totals(cs)
	for _, s := range cs {
		fmt.Fprintf(w, "%s: delivered %d, checkpointed %d, checkpoint %s\n", s.Shard, s.Delivered, s.Checkpointed, s.Checkpoint)
		if s.Checkpointed < s.Delivered {
			short = append(short, fmt.Sprintf("%s checkpointed %d of its %d records", s.Shard, s.Checkpointed, s.Delivered))
		}
	}
	fmt.Fprintf(w, "records: put %d, delivered %d, checkpointed %d\n", put, d, c)
	if d < put {
		short = append(short, fmt.Sprintf("%d of the %d records put were never delivered", put-d, put))
	}
	return d >= put && c >= put && len(short) == 0, short
}
