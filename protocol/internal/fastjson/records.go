package fastjson

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
	"unsafe"
)

// record keys, as bits of a record's seen mask.
const (
	rData = 1 << iota
	rPartitionKey
	rSequenceNumber
	rApproximateArrivalTimestamp
	rSubSequenceNumber
)

// recValues are a record's values while it is parsed.
type recValues struct {
	data    span // the base64 text in the line, off < 0 for null
	ts, sub int64
}

// fastRec is what the parser keeps of a committed record besides its
// Record: where its data was and where it went (offsets fit in 32 bits: the
// fast path leaves lines of 2 GiB and more to the slow path).
type fastRec struct {
	dataOff, dataEnd int32 // the base64 text in the line, dataOff < 0 for null
	outOff, outEnd   int32 // the decoded data, in the line (in place) or in the arena
	decodedInLine    bool  // out overwrote data's bytes in the line
}

// record parses one record object at buf[i] and commits it: its keys are
// copied and its data decoded.
func (p *Parser) record(buf []byte, i int) step {
	if buf[i] != '{' {
		return stepBail
	}
	if st, ok := p.recordFixed(buf, i); ok {
		return st
	}
	r := recValues{data: span{-1, -1}}
	var seen uint8
	var pk, seq span
	j := skipSpace(buf, i+1)
	if j >= len(buf) {
		return stepMore
	}
	if buf[j] != '}' {
		for {
			key, k, st := memberKey(buf, j)
			if st != stepOK {
				return st
			}
			var bit uint8
			switch string(key) {
			case "data":
				bit = rData
				if buf[k] == '"' {
					// Base64 needs no checks here: Decode rejects what is not
					// base64, including '\\' and control characters.
					e := bytes.IndexByte(buf[k+1:], '"')
					if e < 0 {
						return stepMore
					}
					r.data = span{k + 1, k + 1 + e}
					k += e + 2
				} else {
					r.data, k, st = optStr(buf, k)
				}
			case "partitionKey":
				bit = rPartitionKey
				pk, k, st = str(buf, k) // null is an error: slow path
			case "sequenceNumber":
				bit = rSequenceNumber
				seq, k, st = str(buf, k)
			case "approximateArrivalTimestamp":
				bit = rApproximateArrivalTimestamp
				r.ts, _, k, st = integer(buf, k)
			case "subSequenceNumber":
				bit = rSubSequenceNumber
				r.sub, _, k, st = integer(buf, k)
			case "action":
				k, st = skipValue(buf, k, 0) // "record"; not a field of ours
			default:
				if foldsTo(key, "data", "partitionKey", "sequenceNumber", "approximateArrivalTimestamp", "subSequenceNumber") {
					return stepBail
				}
				k, st = skipValue(buf, k, 0)
			}
			if st != stepOK {
				return st
			}
			if seen&bit != 0 {
				return stepBail
			}
			seen |= bit
			if j = skipSpace(buf, k); j >= len(buf) {
				return stepMore
			}
			if buf[j] == '}' {
				break
			}
			if buf[j] != ',' {
				return stepBail
			}
			if j = skipSpace(buf, j+1); j >= len(buf) {
				return stepMore
			}
		}
	}
	// The whole record is here: commit it.
	if seen&rPartitionKey == 0 || seen&rSequenceNumber == 0 {
		return stepBail // missing: the slow path names the field
	}
	return p.commit(buf, r, pk, seq, j+1)
}

// commit keeps a complete record: it decodes its data and copies its keys.
// next is the index after the record's closing brace.
func (p *Parser) commit(buf []byte, r recValues, pk, seq span, next int) step {
	if p.keys == nil {
		p.keys = make([]byte, 0, p.keysHint+p.keysHint/8+64)
	}
	return p.commitKeys(buf, r, p.key(buf[pk.off:pk.end]), p.key(buf[seq.off:seq.end]), next)
}

// commitKeys keeps a complete record whose keys are copied already: it
// decodes its data. next is the index after the record's closing brace.
func (p *Parser) commitKeys(buf []byte, r recValues, pk, seq string, next int) step {
	fr := fastRec{dataOff: -1, dataEnd: -1}
	var data []byte
	if r.data.off >= 0 {
		fr.dataOff, fr.dataEnd = int32(r.data.off), int32(r.data.end)
		if !p.decode(buf, &fr) {
			return stepBail
		}
		out := p.arena
		if p.inPlace {
			out = buf
		}
		data = out[fr.outOff:fr.outEnd:fr.outEnd]
		if data == nil {
			data = []byte{} // "" is empty data, null is no data
		}
	}
	p.records = append(p.records, record{
		Data:                        data,
		PartitionKey:                pk,
		SequenceNumber:              seq,
		SubSequenceNumber:           r.sub,
		ApproximateArrivalTimestamp: r.ts,
	})
	p.recs = append(p.recs, fr)
	p.pos, p.state = next, sAfterRecord
	return stepOK
}

// key copies b to the batch's keys and returns it as a string.
func (p *Parser) key(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	off := len(p.keys)
	p.keys = append(p.keys, b...)
	return unsafe.String(&p.keys[off], len(b))
}

// The daemon's record shape, piece by piece, for recordFixed: each
// literal is compared as overlapping 8-byte words (cheaper than a memequal
// call), the words' values written out as constants (TestRecordLiterals
// checks them).
const (
	litData = `{"data":"`
	litPK   = `","partitionKey":"`
	litSeq  = `","sequenceNumber":"`
	litTS   = `","approximateArrivalTimestamp":`
	litSub  = `,"subSequenceNumber":`
	litEnd  = `,"action":"record"}`
)

// atData reports whether buf[i:] starts with `{"data":"`.
func atData(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 9 {
		return false
	}
	b := buf[i : i+9]
	return (binary.LittleEndian.Uint64(b[0:])^0x3a2261746164227b)|
		(binary.LittleEndian.Uint64(b[1:])^0x223a226174616422) == 0
}

// atPK reports whether buf[i:] starts with `","partitionKey":"`.
func atPK(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 18 {
		return false
	}
	b := buf[i : i+18]
	return (binary.LittleEndian.Uint64(b[0:])^0x6974726170222c22)|
		(binary.LittleEndian.Uint64(b[8:])^0x2279654b6e6f6974)|
		(binary.LittleEndian.Uint64(b[10:])^0x223a2279654b6e6f) == 0
}

// atSeq reports whether buf[i:] starts with `","sequenceNumber":"`.
func atSeq(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 20 {
		return false
	}
	b := buf[i : i+20]
	return (binary.LittleEndian.Uint64(b[0:])^0x6575716573222c22)|
		(binary.LittleEndian.Uint64(b[8:])^0x65626d754e65636e)|
		(binary.LittleEndian.Uint64(b[12:])^0x223a227265626d75) == 0
}

// atTS reports whether buf[i:] starts with `","approximateArrivalTimestamp":`.
func atTS(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 32 {
		return false
	}
	b := buf[i : i+32]
	return (binary.LittleEndian.Uint64(b[0:])^0x6f72707061222c22)|
		(binary.LittleEndian.Uint64(b[8:])^0x72416574616d6978)|
		(binary.LittleEndian.Uint64(b[16:])^0x6d69546c61766972)|
		(binary.LittleEndian.Uint64(b[24:])^0x3a22706d61747365) == 0
}

// atSub reports whether buf[i:] starts with `,"subSequenceNumber":`.
func atSub(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 21 {
		return false
	}
	b := buf[i : i+21]
	return (binary.LittleEndian.Uint64(b[0:])^0x716553627573222c)|
		(binary.LittleEndian.Uint64(b[8:])^0x6d754e65636e6575)|
		(binary.LittleEndian.Uint64(b[13:])^0x3a227265626d754e) == 0
}

// atEnd reports whether buf[i:] starts with `,"action":"record"}`.
func atEnd(buf []byte, i int) bool {
	if i < 0 || len(buf)-i < 19 {
		return false
	}
	b := buf[i : i+19]
	return (binary.LittleEndian.Uint64(b[0:])^0x6e6f69746361222c)|
		(binary.LittleEndian.Uint64(b[8:])^0x726f636572223a22)|
		(binary.LittleEndian.Uint64(b[11:])^0x7d2264726f636572) == 0
}

// recordFixed parses a record of exactly the daemon's shape, keys in the
// daemon's order and no white space, at buf[i]. ok is false if the record
// is of another shape (or incomplete): the caller parses it in general.
func (p *Parser) recordFixed(buf []byte, i int) (st step, ok bool) {
	j := i
	if !atData(buf, j) {
		return 0, false
	}
	j += len(litData)
	e := bytes.IndexByte(buf[j:], '"')
	if e < 0 {
		return 0, false
	}
	r := recValues{data: span{j, j + e}}
	j += e
	if !atPK(buf, j) {
		return 0, false
	}
	if p.keys == nil {
		p.keys = make([]byte, 0, p.keysHint+p.keysHint/8+2*keyRoom)
	}
	keysLen := len(p.keys) // to undo the keys of a record that is not committed
	pk, k, ok := p.fixedKey(buf, j+len(litPK))
	if !ok || !atSeq(buf, k-1) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	seq, k, ok := p.fixedKey(buf, k-1+len(litSeq))
	if !ok || !atTS(buf, k-1) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	k += len(litTS) - 1
	if k >= len(buf) || buf[k] == 'n' {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	if r.ts, k, st = fixedInt(buf, k); st != stepOK || !atSub(buf, k) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	k += len(litSub)
	if k >= len(buf) || buf[k] == 'n' {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	if r.sub, k, st = fixedInt(buf, k); st != stepOK || !atEnd(buf, k) {
		p.keys = p.keys[:keysLen]
		return 0, false
	}
	if st := p.commitKeys(buf, r, pk, seq, k+len(litEnd)); st != stepOK {
		p.keys = p.keys[:keysLen]
		return st, true
	}
	return stepOK, true
}

// keyRoom is the spare capacity of the keys that fixedKey copies into.
const keyRoom = 128

// fixedKey reads a string's content at buf[i] (after its opening quote), of
// the kind str accepts but ASCII only, and appends it to the batch's keys as
// it scans it, 8 bytes at a time. It returns the key and the index after the
// closing quote; ok is false (the keys' length unchanged) for anything else,
// incomplete input included. The keys' bytes up to their length are never
// written: a word goes to their spare capacity, and the length then grows.
func (p *Parser) fixedKey(buf []byte, i int) (string, int, bool) {
	keys := p.keys
	n := len(keys)
	if cap(keys)-n >= keyRoom && i <= len(buf) {
		dst := (*[keyRoom]byte)(keys[n : n+keyRoom])
		src := buf[i:]
		for j := 0; j <= keyRoom-8 && j+8 <= len(src); j += 8 {
			w := binary.LittleEndian.Uint64(src[j:])
			binary.LittleEndian.PutUint64(dst[j:], w)
			if w&0xf0f0f0f0f0f0f0f0 == 0x3030303030303030 && (w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0 == 0x3030303030303030 {
				continue // eight digits, most of a sequence number
			}
			if m := special(w); m != 0 {
				k := j + bits.TrailingZeros64(m)/8
				if src[k] != '"' {
					return "", 0, false
				}
				if k == 0 {
					return "", i + 1, true
				}
				p.keys = keys[:n+k]
				return unsafe.String(&p.keys[n], k), i + k + 1, true
			}
		}
	}
	// Near the end of the input, out of room, or a long key.
	sp, next, st := str(buf, i-1)
	if st != stepOK {
		return "", 0, false
	}
	for _, c := range buf[sp.off:sp.end] {
		if c >= utf8.RuneSelf {
			return "", 0, false // the general parser checks UTF-8
		}
	}
	return p.key(buf[sp.off:sp.end]), next, true
}

// Record is the constraint of [Records]: a struct of exactly the fields,
// in the order, of protocol.Record, which the parser fills. A change to one
// that the other does not follow fails to compile.
type Record interface {
	~struct {
		Data                        []byte
		PartitionKey                string
		SequenceNumber              string
		SubSequenceNumber           int64
		ApproximateArrivalTimestamp int64
	}
}

// record is the parser's own spelling of a [Record].
type record = struct {
	Data                        []byte
	PartitionKey                string
	SequenceNumber              string
	SubSequenceNumber           int64
	ApproximateArrivalTimestamp int64
}

// Records returns the batch of a line that [Parser.Parse] has parsed, in
// win (the window of that Parse). Their Data are remade from their offsets
// in win, always: the caller's buffer may have been grown or compacted
// after any record was committed (even after the last one with data, by a
// read that ended in the line's tail), and a Data slice made before that
// would point at bytes that are no longer the record's.
//
// The records are the parser's: they change at the next Parse unless the
// caller keeps them ([Parser.Keep]).
func Records[R Record](p *Parser, win []byte) []R {
	if p.records == nil {
		p.records = make([]record, 0, 8)
	}
	out := p.arena
	if p.inPlace {
		out = win
	}
	for i := range p.recs {
		if fr := &p.recs[i]; fr.dataOff >= 0 && fr.outEnd > fr.outOff {
			p.records[i].Data = out[fr.outOff:fr.outEnd:fr.outEnd]
		}
	}
	// R's underlying type is record (the constraint): the same layout.
	return unsafe.Slice((*R)(unsafe.Pointer(unsafe.SliceData(p.records))), len(p.records))
}

// Keep makes the records of the last line the live batch: the parser
// leaves their array alone until the next batch is kept, and parses the
// next lines into the array of the batch kept before.
func (p *Parser) Keep() {
	p.records, p.live = p.live[:0], p.records
}
