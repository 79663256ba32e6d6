package thriftwire

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type headerFixture struct {
	name   string
	proto  Proto
	b      []byte
	want   MessageHeader // Name compared as string
	wantNm string
}

func headerFixtures() []headerFixture {
	return []headerFixture{
		{name: "binary/strict call", proto: Binary,
			b: bs(
				0x80, 0x01, 0x00, 0x01, // version 1, type CALL
				0, 0, 0, 5, "greet", // name
				0, 0, 0, 7), // seqid 7
			wantNm: "greet",
			want:   MessageHeader{Type: MessageCall, SeqID: 7, Strict: true, SeqIDOff: 13, SeqIDLen: 4, BodyOff: 17}},
		{name: "binary/strict reply multiplexed", proto: Binary,
			b: bs(
				0x80, 0x01, 0x00, 0x02, // version 1, type REPLY
				0, 0, 0, 13, "Greeter:greet",
				0x7f, 0xff, 0xff, 0xff), // seqid 2^31-1
			wantNm: "Greeter:greet",
			want:   MessageHeader{Type: MessageReply, SeqID: math.MaxInt32, Strict: true, SeqIDOff: 21, SeqIDLen: 4, BodyOff: 25}},
		{name: "binary/strict exception, unused byte set, negative seqid", proto: Binary,
			b: bs(
				0x80, 0x01, 0xab, 0x03, // third byte is ignored
				0, 0, 0, 1, "x",
				0xff, 0xff, 0xff, 0xff), // seqid -1
			wantNm: "x",
			want:   MessageHeader{Type: MessageException, SeqID: -1, Strict: true, SeqIDOff: 9, SeqIDLen: 4, BodyOff: 13}},
		{name: "binary/non-strict oneway", proto: Binary,
			b: bs(
				0, 0, 0, 5, "greet", // name
				0x04,        // type ONEWAY
				0, 0, 0, 0), // seqid 0
			wantNm: "greet",
			want:   MessageHeader{Type: MessageOneway, SeqID: 0, SeqIDOff: 10, SeqIDLen: 4, BodyOff: 14}},
		{name: "binary/non-strict multiplexed", proto: Binary,
			b: bs(
				0, 0, 0, 13, "Greeter:greet",
				0x01,
				0x80, 0, 0, 0), // seqid -2^31
			wantNm: "Greeter:greet",
			want:   MessageHeader{Type: MessageCall, SeqID: math.MinInt32, SeqIDOff: 18, SeqIDLen: 4, BodyOff: 22}},
		{name: "binary/strict empty name", proto: Binary,
			b:    bs(0x80, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 9),
			want: MessageHeader{Type: MessageCall, SeqID: 9, Strict: true, SeqIDOff: 8, SeqIDLen: 4, BodyOff: 12}},

		// Compact: 0x82, type<<5|1, varint seqid (uint32 bits, no zigzag), varint name length, name.
		{name: "compact/seqid 0", proto: Compact,
			b:      bs(0x82, 0x21, 0x00, 0x05, "greet"),
			wantNm: "greet",
			want:   MessageHeader{Type: MessageCall, SeqID: 0, SeqIDOff: 2, SeqIDLen: 1, BodyOff: 9}},
		{name: "compact/seqid 7", proto: Compact,
			b:      bs(0x82, 0x41, 0x07, 0x05, "greet"), // REPLY
			wantNm: "greet",
			want:   MessageHeader{Type: MessageReply, SeqID: 7, SeqIDOff: 2, SeqIDLen: 1, BodyOff: 9}},
		{name: "compact/seqid 127", proto: Compact,
			b:      bs(0x82, 0x61, 0x7f, 0x05, "greet"), // EXCEPTION
			wantNm: "greet",
			want:   MessageHeader{Type: MessageException, SeqID: 127, SeqIDOff: 2, SeqIDLen: 1, BodyOff: 9}},
		{name: "compact/seqid 128", proto: Compact,
			b:      bs(0x82, 0x81, 0x80, 0x01, 0x05, "greet"), // ONEWAY
			wantNm: "greet",
			want:   MessageHeader{Type: MessageOneway, SeqID: 128, SeqIDOff: 2, SeqIDLen: 2, BodyOff: 10}},
		{name: "compact/seqid 2^31-1 multiplexed", proto: Compact,
			b:      bs(0x82, 0x21, 0xff, 0xff, 0xff, 0xff, 0x07, 0x0d, "Greeter:greet"),
			wantNm: "Greeter:greet",
			want:   MessageHeader{Type: MessageCall, SeqID: math.MaxInt32, SeqIDOff: 2, SeqIDLen: 5, BodyOff: 21}},
		{name: "compact/seqid -1", proto: Compact,
			b:      bs(0x82, 0x21, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x05, "greet"),
			wantNm: "greet",
			want:   MessageHeader{Type: MessageCall, SeqID: -1, SeqIDOff: 2, SeqIDLen: 5, BodyOff: 13}},
		{name: "compact/seqid -2^31", proto: Compact,
			b:      bs(0x82, 0x21, 0x80, 0x80, 0x80, 0x80, 0x08, 0x01, "g"),
			wantNm: "g",
			want:   MessageHeader{Type: MessageCall, SeqID: math.MinInt32, SeqIDOff: 2, SeqIDLen: 5, BodyOff: 9}},
		{name: "compact/non-minimal seqid varint", proto: Compact,
			b:      bs(0x82, 0x21, 0x87, 0x00, 0x01, "g"), // 7 in 2 bytes
			wantNm: "g",
			want:   MessageHeader{Type: MessageCall, SeqID: 7, SeqIDOff: 2, SeqIDLen: 2, BodyOff: 6}},
	}
}

func TestReadMessageHeader(t *testing.T) {
	for _, fx := range headerFixtures() {
		t.Run(fx.name, func(t *testing.T) {
			// With a body after the header.
			b := append(append([]byte(nil), fx.b...), 0x00)
			h, err := ReadMessageHeader(fx.proto, b)
			require.NoError(t, err)
			assert.Equal(t, fx.wantNm, string(h.Name))
			assert.Equal(t, len(h.Name), cap(h.Name), "Name capacity is clipped")
			h.Name = nil
			assert.Equal(t, fx.want, h)
			assert.Equal(t, len(fx.b), h.BodyOff)

			// SeqIDOff/SeqIDLen locate the seqid encoding.
			seq := b[h.SeqIDOff : h.SeqIDOff+h.SeqIDLen]
			if fx.proto == Binary {
				assert.Equal(t, fx.want.SeqID, int32(binary.BigEndian.Uint32(seq)))
			} else {
				v, n, err := ReadVarint32(seq)
				require.NoError(t, err)
				assert.Equal(t, len(seq), n)
				assert.Equal(t, fx.want.SeqID, int32(v))
			}

			// The body is found where BodyOff says.
			end, err := SkipStruct(fx.proto, b, h.BodyOff, 0)
			require.NoError(t, err)
			assert.Equal(t, len(b), end)

			// Every strict prefix is ErrShort.
			for i := 0; i < len(fx.b); i++ {
				_, err := ReadMessageHeader(fx.proto, fx.b[:i])
				require.ErrorIs(t, err, ErrShort, "prefix %d: %v", i, err)
			}

			p, err := DetectProto(fx.b)
			require.NoError(t, err)
			assert.Equal(t, fx.proto, p)
		})
	}
}

func TestRewriteBinarySeqIDInPlace(t *testing.T) {
	b := AppendMessageHeader(Binary, nil, "Greeter:greet", MessageCall, 1, true)
	b = append(b, greetBinary...)
	h, err := ReadMessageHeader(Binary, b)
	require.NoError(t, err)
	binary.BigEndian.PutUint32(b[h.SeqIDOff:], uint32(0x01020304))
	h2, err := ReadMessageHeader(Binary, b)
	require.NoError(t, err)
	assert.Equal(t, int32(0x01020304), h2.SeqID)
	end, err := SkipStruct(Binary, b, h2.BodyOff, 0)
	require.NoError(t, err)
	assert.Equal(t, len(b), end)
}

func TestReadMessageHeaderMalformed(t *testing.T) {
	long := strings.Repeat("n", MaxNameLen+1)
	cases := []struct {
		name string
		p    Proto
		b    []byte
	}{
		{"binary/bad version 0x8002", Binary, bs(0x80, 0x02, 0x00, 0x01, 0, 0, 0, 1, "x", 0, 0, 0, 1)},
		{"binary/bad first byte 0x81", Binary, bs(0x81)},
		{"binary/bad second byte", Binary, bs(0x80, 0x00)},
		{"binary/compact header read as binary", Binary, bs(0x82, 0x21, 0x00, 0x01, "g")},
		{"binary/strict type 0", Binary, bs(0x80, 0x01, 0x00, 0x00)},
		{"binary/strict type 5", Binary, bs(0x80, 0x01, 0x00, 0x05)},
		{"binary/strict type with high bits", Binary, bs(0x80, 0x01, 0x00, 0x81)},
		{"binary/strict name too long", Binary, bs(0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff)},
		{"binary/strict name length -1", Binary, bs(0x80, 0x01, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff)},
		{"binary/non-strict name too long", Binary, bs(0x00, 0x00, 0x10, 0x01)},
		{"binary/non-strict name too long, 3 bytes", Binary, bs(0x00, 0x01, 0x00)},
		{"binary/non-strict name too long, 1 byte", Binary, bs(0x7f)},
		{"binary/non-strict name too long, full", Binary, append(bs(0, 0, 0x10, 0x01), long...)},
		{"binary/non-strict type 0", Binary, bs(0, 0, 0, 1, "x", 0x00, 0, 0, 0, 1)},
		{"binary/non-strict type 5", Binary, bs(0, 0, 0, 1, "x", 0x05)},
		{"compact/bad protocol id", Compact, bs(0x83)},
		{"compact/binary header read as compact", Compact, bs(0x80, 0x01, 0x00, 0x01)},
		{"compact/version 2", Compact, bs(0x82, 0x22)},
		{"compact/version 0", Compact, bs(0x82, 0x20)},
		{"compact/type 0", Compact, bs(0x82, 0x01)},
		{"compact/type 5", Compact, bs(0x82, 0xa1)},
		{"compact/type 7", Compact, bs(0x82, 0xe1)},
		{"compact/seqid varint over 5 bytes", Compact, bs(0x82, 0x21, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{"compact/seqid overflow", Compact, bs(0x82, 0x21, 0xff, 0xff, 0xff, 0xff, 0x10)},
		{"compact/name too long", Compact, bs(0x82, 0x21, 0x00, 0x81, 0x20)},
		{"compact/name length 2^31", Compact, bs(0x82, 0x21, 0x00, 0x80, 0x80, 0x80, 0x80, 0x08)},
		{"compact/name length varint over 5 bytes", Compact, bs(0x82, 0x21, 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)},
		{"unknown proto", Proto(2), bs(0x80, 0x01, 0x00, 0x01)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ReadMessageHeader(tc.p, tc.b)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Equal(t, MessageHeader{}, h)
		})
	}
}

func TestDetectProto(t *testing.T) {
	cases := []struct {
		name  string
		b     []byte
		want  Proto
		errIs error
	}{
		{"strict binary", bs(0x80, 0x01, 0x00, 0x01), Binary, nil},
		{"strict binary, 2 bytes", bs(0x80, 0x01), Binary, nil},
		{"compact", bs(0x82, 0x21, 0x00), Compact, nil},
		{"compact reply", bs(0x82, 0x41), Compact, nil},
		{"non-strict binary", bs(0, 0, 0, 5, "greet", 0x01, 0, 0, 0, 1), Binary, nil},
		{"non-strict binary, seqid missing", bs(0, 0, 0, 5, "greet", 0x02), Binary, nil},
		{"non-strict multiplexed", bs(0, 0, 0, 13, "Greeter:greet", 0x01), Binary, nil},
		{"empty", nil, 0, ErrShort},
		{"0x80 alone", bs(0x80), 0, ErrShort},
		{"0x82 alone", bs(0x82), 0, ErrShort},
		{"non-strict, 3 bytes", bs(0, 0, 0), 0, ErrShort},
		{"non-strict, partial name", bs(0, 0, 0, 5, "gre"), 0, ErrShort},
		{"non-strict, no type", bs(0, 0, 0, 5, "greet"), 0, ErrShort},
		{"0x80 0x02", bs(0x80, 0x02), 0, ErrMalformed},
		{"compact version 2", bs(0x82, 0x22), 0, ErrMalformed},
		{"compact type 0", bs(0x82, 0x01), 0, ErrMalformed},
		{"zero name length", bs(0, 0, 0, 0, 0x01), 0, ErrMalformed},
		{"name too long", bs(0, 0, 0x10, 0x01), 0, ErrMalformed},
		{"name too long, 2 bytes", bs(0, 0x11), 0, ErrMalformed},
		{"http", []byte("GET / HTTP/1.1\r\n"), 0, ErrMalformed},
		{"framed length prefix", bs(0, 0, 0x01, 0x00, 0x80, 0x01), 0, ErrMalformed},
		{"name with space", bs(0, 0, 0, 3, "a b", 0x01), 0, ErrMalformed},
		{"name with control char", bs(0, 0, 0, 2, "a\n", 0x01), 0, ErrMalformed},
		{"bad type", bs(0, 0, 0, 1, "x", 0x05), 0, ErrMalformed},
		{"dubbo magic", bs(0xda, 0xbb, 0xc2, 0x00), 0, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DetectProto(tc.b)
			if tc.errIs != nil {
				require.ErrorIs(t, err, tc.errIs)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, p)
		})
	}
}

func TestVarint32(t *testing.T) {
	cases := []struct {
		v   uint32
		enc []byte
	}{
		{0, bs(0x00)},
		{1, bs(0x01)},
		{127, bs(0x7f)},
		{128, bs(0x80, 0x01)},
		{300, bs(0xac, 0x02)},
		{50399, bs(0xdf, 0x89, 0x03)}, // the example from the compact spec
		{1<<21 - 1, bs(0xff, 0xff, 0x7f)},
		{1 << 28, bs(0x80, 0x80, 0x80, 0x80, 0x01)},
		{math.MaxInt32, bs(0xff, 0xff, 0xff, 0xff, 0x07)},
		{math.MaxUint32, bs(0xff, 0xff, 0xff, 0xff, 0x0f)},
	}
	for _, tc := range cases {
		got := AppendVarint32([]byte{0xaa}, tc.v)
		assert.Equal(t, append([]byte{0xaa}, tc.enc...), got, "encode %d", tc.v)
		v, n, err := ReadVarint32(append(append([]byte(nil), tc.enc...), 0xff, 0xff))
		require.NoError(t, err)
		assert.Equal(t, tc.v, v)
		assert.Equal(t, len(tc.enc), n)
		for i := 0; i < len(tc.enc); i++ {
			_, _, err := ReadVarint32(tc.enc[:i])
			require.ErrorIs(t, err, ErrShort, "prefix %d of %d", i, tc.v)
		}
	}

	bad := [][]byte{
		bs(0x80, 0x80, 0x80, 0x80, 0x80, 0x00), // 6 bytes
		bs(0xff, 0xff, 0xff, 0xff, 0xff),       // 5th byte still continues
		bs(0xff, 0xff, 0xff, 0xff, 0x10),       // bit 32 set
		bs(0xff, 0xff, 0xff, 0xff, 0x7f),
	}
	for _, b := range bad {
		_, _, err := ReadVarint32(b)
		require.ErrorIs(t, err, ErrMalformed, "% x", b)
	}
	// Non-minimal encodings are accepted.
	v, n, err := ReadVarint32(bs(0x80, 0x80, 0x00))
	require.NoError(t, err)
	assert.Equal(t, uint32(0), v)
	assert.Equal(t, 3, n)
}
