package deagg_test

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kclgo/kclgo/deagg"
)

// wrap makes an aggregate of a protobuf body: magic, body, MD5(body).
func wrap(body []byte) []byte {
	sum := md5.Sum(body)
	out := append([]byte(deagg.Magic), body...)
	return append(out, sum[:]...)
}

// referenceDescriptor builds the AggregatedRecord message of messages.proto
// (proto2) for the official protobuf runtime: an independent decoder to
// compare with.
func referenceDescriptor(t testing.TB) protoreflect.MessageDescriptor {
	t.Helper()
	field := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label,
		typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), Number: proto.Int32(num), Label: label.Enum(), Type: typ.Enum(),
		}
		if typeName != "" {
			f.TypeName = proto.String(typeName)
		}
		return f
	}
	const (
		rep = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		req = descriptorpb.FieldDescriptorProto_LABEL_REQUIRED
		opt = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		str = descriptorpb.FieldDescriptorProto_TYPE_STRING
		u64 = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		byt = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		msg = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	fdp := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("kpl_messages_test.proto"),
		Package: proto.String("aws.kinesis.protobuf"),
		Syntax:  proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("AggregatedRecord"), Field: []*descriptorpb.FieldDescriptorProto{
				field("partition_key_table", 1, rep, str, ""),
				field("explicit_hash_key_table", 2, rep, str, ""),
				field("records", 3, rep, msg, ".aws.kinesis.protobuf.Record"),
			}},
			{Name: proto.String("Tag"), Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, req, str, ""),
				field("value", 2, opt, str, ""),
			}},
			{Name: proto.String("Record"), Field: []*descriptorpb.FieldDescriptorProto{
				field("partition_key_index", 1, req, u64, ""),
				field("explicit_hash_key_index", 2, opt, u64, ""),
				field("data", 3, req, byt, ""),
				field("tags", 4, rep, msg, ".aws.kinesis.protobuf.Tag"),
			}},
		},
	}
	fd, err := protodesc.NewFile(fdp, nil)
	require.NoError(t, err)
	return fd.Messages().ByName("AggregatedRecord")
}

// referenceDecode decodes body with the official protobuf runtime and the
// vectors' rules. ok is false for a corrupt body.
func referenceDecode(md protoreflect.MessageDescriptor, body []byte) (recs []deagg.UserRecord, ok bool) {
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, false
	}
	pks := m.Get(md.Fields().ByNumber(1)).List()
	ehks := m.Get(md.Fields().ByNumber(2)).List()
	list := m.Get(md.Fields().ByNumber(3)).List()
	for i := range list.Len() {
		r := list.Get(i).Message()
		rf := r.Descriptor().Fields()
		u := deagg.UserRecord{Aggregated: true, SubSequenceNumber: uint64(i), Data: r.Get(rf.ByNumber(3)).Bytes()}
		pk := r.Get(rf.ByNumber(1)).Uint()
		if pk >= uint64(pks.Len()) {
			return nil, false
		}
		u.PartitionKey = pks.Get(int(pk)).String()
		if r.Has(rf.ByNumber(2)) {
			ehk := r.Get(rf.ByNumber(2)).Uint()
			if ehk >= uint64(ehks.Len()) {
				return nil, false
			}
			u.ExplicitHashKey, u.HasExplicitHashKey = ehks.Get(int(ehk)).String(), true
		}
		recs = append(recs, u)
	}
	return recs, true
}

// addVectorSeeds seeds f with the body of every vector but the largest
// (the fuzzer minimizes new inputs, which takes ages on a megabyte).
func addVectorSeeds(f *testing.F) {
	for _, v := range loadVectors(f) {
		if len(v.Input) > 16<<10 {
			continue
		}
		f.Add(v.Input, false)
		if deagg.IsAggregate(v.Input) {
			f.Add(v.Input[len(deagg.Magic):len(v.Input)-md5.Size], true)
		}
	}
	f.Add([]byte{}, true)
	f.Add([]byte{0x1a, 0x00}, true)                  // a record with no field
	f.Add([]byte{0x0a, 0x01, 'k', 0x1a, 0x00}, true) // missing both required fields
	f.Add([]byte{0x1b, 0x1c}, true)                  // a group
	f.Add([]byte{0xfa, 0xff, 0xff, 0xff, 0x0f, 0x00}, true)
}

// FuzzDeaggregate: deaggregation never panics, never gives partial output,
// and agrees with the official protobuf runtime on every body (wrap true
// puts a valid magic and MD5 around the input so the fuzzer reaches the
// protobuf parser).
func FuzzDeaggregate(f *testing.F) {
	addVectorSeeds(f)
	md := referenceDescriptor(f)
	f.Fuzz(func(t *testing.T, in []byte, wrapped bool) {
		data := in
		if wrapped {
			data = wrap(in)
		}
		rec := deagg.Record{Data: data, PartitionKey: "outer", SequenceNumber: "42"}
		got, err := deagg.AppendRecord(nil, rec)

		// Same answer from every form.
		var streamed []deagg.UserRecord
		var streamErr error
		for u, err := range deagg.IterRecord(rec) {
			if err != nil {
				streamErr = err
				continue
			}
			streamed = append(streamed, u)
		}
		require.Equal(t, got, streamed)
		require.Equal(t, err, streamErr)
		kcl, kclErr := deagg.AppendRecord(nil, rec, deagg.PassThroughCorrupt())
		require.NoError(t, kclErr)

		if !deagg.IsAggregate(data) {
			require.NoError(t, err)
			require.Equal(t, []deagg.UserRecord{{PartitionKey: "outer", Data: data, SequenceNumber: "42"}}, got)
			require.Equal(t, got, kcl)
			return
		}
		body := data[len(deagg.Magic) : len(data)-md5.Size]
		want, ok := referenceDecode(md, body)
		if !ok {
			var ce *deagg.CorruptError
			require.True(t, errors.As(err, &ce), "official runtime rejects it, deagg says %v", err)
			require.ErrorIs(t, err, deagg.ErrCorrupt)
			require.Empty(t, got)
			require.Equal(t, rec, ce.Raw)
			require.Equal(t, "42", ce.SequenceNumber)
			require.Equal(t, []deagg.UserRecord{{PartitionKey: "outer", Data: data, SequenceNumber: "42"}}, kcl)
			return
		}
		require.NoError(t, err, "official runtime accepts it")
		require.Len(t, got, len(want))
		for i := range want {
			want[i].SequenceNumber = "42"
			if len(want[i].Data) == 0 {
				want[i].Data = got[i].Data // nil vs empty
			}
		}
		require.Equal(t, want, got)
		require.Equal(t, got, kcl)
	})
}

// entriesFrom turns fuzz bytes into valid user records: a small alphabet of
// keys so tables are shared, data of any length and content.
func entriesFrom(in []byte) []deagg.Entry {
	var out []deagg.Entry
	budget := 256 << 10 // bytes of data in all: keeps each run, and minimizing, fast
	for len(in) >= 3 && len(out) < 300 {
		ctl, pkSel, n := in[0], in[1], int(in[2])
		in = in[3:]
		if ctl&0x80 != 0 { // a longer record
			n *= 97
		}
		if n > budget {
			break
		}
		budget -= n
		data := make([]byte, n)
		if len(in) > 0 {
			for i := 0; i < n; i += copy(data[i:], in) {
			}
		}
		e := deagg.Entry{PartitionKey: fmt.Sprintf("pk-%d", pkSel%16), Data: data}
		if pkSel&0x80 != 0 {
			e.PartitionKey = "ключ-" + e.PartitionKey // non-ASCII, counted in UTF-8 bytes
		}
		switch ctl % 4 {
		case 1:
			e.ExplicitHashKey = fmt.Sprint(ctl % 8)
		case 2:
			e.ExplicitHashKey = "340282366920938463463374607431768211455"
		}
		if !utf8.ValidString(e.PartitionKey) {
			continue
		}
		out = append(out, e)
	}
	return out
}

// FuzzRoundTrip: whatever the aggregator emits, the deaggregator returns, byte
// for byte and in order, and every aggregate fits its limits.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("\x00\x01\x05hello\x01\x02\x00\x82\x03\xff"), uint16(0), uint8(0))
	f.Add(bytes.Repeat([]byte{0x81, 0x83, 0xff}, 40), uint16(500), uint8(0))
	f.Add(bytes.Repeat([]byte{0x02, 0x07, 0x10}, 200), uint16(100), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, maxSize uint16, maxCount uint8) {
		entries := entriesFrom(in)
		a := &deagg.Aggregator{MaxSize: int(maxSize), MaxCount: int(maxCount)}
		limit := int(maxSize)
		if limit == 0 {
			limit = deagg.MaxRecordSize
		}
		var kept []deagg.Entry
		var aggs []*deagg.AggregatedRecord
		for _, e := range entries {
			done, err := a.Add(e)
			if errors.Is(err, deagg.ErrRecordTooLarge) {
				continue
			}
			require.NoError(t, err)
			kept = append(kept, e)
			if done != nil {
				aggs = append(aggs, done)
			}
		}
		if last := a.Flush(); last != nil {
			aggs = append(aggs, last)
		}
		requireRoundTrip(t, kept, aggs, limit, int(maxCount))
	})
}

func TestFieldNumberOutOfRange(t *testing.T) {
	// Field number 2^29 (one past protowire.MaxValidNumber), varint wire type.
	body := append(protowireTag(1<<29), 0)
	_, err := deagg.AppendRecord(nil, deagg.Record{Data: wrap(body), SequenceNumber: "7"})
	require.ErrorIs(t, err, deagg.ErrCorrupt)
	require.ErrorContains(t, err, "invalid field number")
}

// protowireTag encodes a varint-type tag for num without protowire's checks.
func protowireTag(num uint64) []byte {
	var b []byte
	for v := num << 3; ; v >>= 7 {
		if v < 0x80 {
			return append(b, byte(v))
		}
		b = append(b, byte(v)|0x80)
	}
}
