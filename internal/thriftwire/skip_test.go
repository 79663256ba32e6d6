package thriftwire

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSkipStructFixtures(t *testing.T) {
	for _, fx := range structFixtures() {
		t.Run(fx.name, func(t *testing.T) {
			end, err := SkipStruct(fx.proto, fx.b, 0, 0)
			require.NoError(t, err)
			assert.Equal(t, len(fx.b), end, "must land exactly at the end")

			// Trailing bytes are not consumed.
			withTail := append(bytes.Clone(fx.b), 0xee, 0xee, 0xee)
			end, err = SkipStruct(fx.proto, withTail, 0, 0)
			require.NoError(t, err)
			assert.Equal(t, len(fx.b), end)

			// A non-zero start offset.
			withHead := append([]byte{0xaa, 0xbb, 0xcc}, fx.b...)
			end, err = SkipStruct(fx.proto, withHead, 3, 0)
			require.NoError(t, err)
			assert.Equal(t, len(withHead), end)

			id, typ, err := FirstField(fx.proto, fx.b, 0)
			require.NoError(t, err)
			assert.Equal(t, fx.firstID, id, "first field id")
			assert.Equal(t, fx.firstT, typ, "first field type")

			if fx.desc != nil {
				assert.Equal(t, fx.b, encStruct(fx.proto, nil, fx.desc),
					"test writer and hand-written fixture disagree")
			}
		})
	}
}

// Every strict prefix of a valid struct is ErrShort: never ErrMalformed,
// never a panic, never success.
func TestSkipStructPrefixesAreShort(t *testing.T) {
	for _, fx := range structFixtures() {
		t.Run(fx.name, func(t *testing.T) {
			for i := 0; i < len(fx.b); i++ {
				_, err := SkipStruct(fx.proto, fx.b[:i], 0, 0)
				require.ErrorIs(t, err, ErrShort, "prefix of %d/%d bytes: %v", i, len(fx.b), err)
				if i > 0 {
					_, _, err = FirstField(fx.proto, fx.b[:i], 0)
					if err != nil {
						require.ErrorIs(t, err, ErrShort, "FirstField on prefix %d", i)
					}
				}
			}
			// Same inside a message, starting at BodyOff.
			msg := AppendMessageHeader(fx.proto, nil, "Greeter:greet", MessageCall, 9, true)
			body := len(msg)
			msg = append(msg, fx.b...)
			for i := body; i < len(msg); i++ {
				_, err := SkipStruct(fx.proto, msg[:i], body, 0)
				require.ErrorIs(t, err, ErrShort, "message prefix of %d bytes", i)
			}
			end, err := SkipStruct(fx.proto, msg, body, 0)
			require.NoError(t, err)
			require.Equal(t, len(msg), end)
		})
	}
}

// Structs produced by the test writer (bigger, generated shapes).
func TestSkipStructWriterShapes(t *testing.T) {
	long := make([]any, 300)
	for i := range long {
		long[i] = int32(i * 1000003)
	}
	shapes := map[string]tStruct{
		"list-15-i32":     {{1, tList{TypeI32, long[:15]}}},
		"list-300-i32":    {{1, tList{TypeI32, long}}},
		"set-300-i32":     {{1, tSet{TypeI32, long}}},
		"big-ids":         {{1000, int16(-5)}, {-1000, int64(-1 << 62)}, {7, 2.5}},
		"bool-fields":     {{1, true}, {2, false}, {3, true}, {30, false}, {-2, true}},
		"bench-payload":   benchDesc(),
		"deep-but-legal":  nest(60),
		"map-of-maps":     {{1, tMap{TypeI64, TypeMap, []any{int64(1), tMap{TypeBool, TypeDouble, []any{true, 1.5}}, int64(-9), tMap{TypeBool, TypeDouble, nil}}}}},
		"list-of-sets":    {{1, tList{TypeSet, []any{tSet{TypeUUID, []any{uuidV, uuidV}}, tSet{TypeString, []any{"x"}}}}}},
		"string-1k":       {{1, strings.Repeat("z", 1024)}},
		"i64-extremes":    {{1, int64(-1 << 63)}, {2, int64(1<<63 - 1)}, {3, int32(-1 << 31)}, {4, int16(-1 << 15)}},
		"list-of-bools-x": {{1, tList{TypeBool, []any{true, true, false, false, true, false, true, true, true, false, true, false, true, true, false, false, true}}}},
	}
	for name, s := range shapes {
		for _, p := range []Proto{Binary, Compact} {
			t.Run(name+"/"+p.String(), func(t *testing.T) {
				b := encStruct(p, nil, s)
				end, err := SkipStruct(p, b, 0, 0)
				require.NoError(t, err)
				require.Equal(t, len(b), end)
				for i := 0; i < len(b); i++ {
					_, err := SkipStruct(p, b[:i], 0, 0)
					require.ErrorIs(t, err, ErrShort, "prefix %d", i)
				}
			})
		}
	}
}

func nest(n int) tStruct {
	s := tStruct{{1, int32(1)}}
	for i := 1; i < n; i++ {
		s = tStruct{{1, s}}
	}
	return s
}

func TestSkipStructMalformed(t *testing.T) {
	cases := []struct {
		name  string
		proto Proto
		b     []byte
	}{
		// Binary.
		{"binary/field type 1 (void)", Binary, bs(0x01, 0x00, 0x01, 0x00)},
		{"binary/field type 5", Binary, bs(0x05, 0x00, 0x01, 0x00)},
		{"binary/field type 7", Binary, bs(0x07, 0x00, 0x01, 0x00)},
		{"binary/field type 9", Binary, bs(0x09, 0x00, 0x01, 0x00)},
		{"binary/field type 17", Binary, bs(0x11, 0x00, 0x01, 0x00)},
		{"binary/field type 0xff", Binary, bs(0xff)},
		{"binary/bad type after good field", Binary, bs(0x08, 0x00, 0x01, 0, 0, 0, 1, 0x42)},
		{"binary/string length -1", Binary, bs(0x0b, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff)},
		{"binary/string length 2^31", Binary, bs(0x0b, 0x00, 0x01, 0x80, 0, 0, 0, "abc")},
		{"binary/list size 2^31", Binary, bs(0x0f, 0x00, 0x01, 0x08, 0x80, 0, 0, 0)},
		{"binary/list size -1", Binary, bs(0x0f, 0x00, 0x01, 0x03, 0xff, 0xff, 0xff, 0xff)},
		{"binary/set size -2", Binary, bs(0x0e, 0x00, 0x01, 0x03, 0xff, 0xff, 0xff, 0xfe)},
		{"binary/map size 2^31", Binary, bs(0x0d, 0x00, 0x01, 0x08, 0x08, 0x80, 0, 0, 0)},
		{"binary/list elem type stop", Binary, bs(0x0f, 0x00, 0x01, 0x00, 0, 0, 0, 0)},
		{"binary/list elem type 1", Binary, bs(0x0f, 0x00, 0x01, 0x01, 0, 0, 0, 1, 0)},
		{"binary/map key type 9", Binary, bs(0x0d, 0x00, 0x01, 0x09, 0x08, 0, 0, 0, 0)},
		{"binary/map value type 0x20", Binary, bs(0x0d, 0x00, 0x01, 0x08, 0x20, 0, 0, 0, 0)},
		{"binary/bad type in nested struct in list", Binary, bs(0x0f, 0x00, 0x01, 0x0c, 0, 0, 0, 2, 0x00, 0x07)},
		{"binary/negative string length in map value", Binary, bs(0x0d, 0x00, 0x01, 0x08, 0x0b, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xf0)},

		// Compact.
		{"compact/type nibble 0 with delta", Compact, bs(0x10)},
		{"compact/field type 14", Compact, bs(0x1e)},
		{"compact/field type 15", Compact, bs(0x0f, 0x02)},
		{"compact/field id varint over 5 bytes", Compact, bs(0x05, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"compact/field id out of i16 range", Compact, bs(0x05, 0x80, 0xf1, 0x04, 0x02)}, // zigzag 80000 = id 40000
		{"compact/i32 varint over 5 bytes", Compact, bs(0x15, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)},
		{"compact/i32 varint overflows 32 bits", Compact, bs(0x15, 0xff, 0xff, 0xff, 0xff, 0x1f)},
		{"compact/i16 varint over 5 bytes", Compact, bs(0x14, 0xff, 0xff, 0xff, 0xff, 0xff)},
		{"compact/i64 varint over 10 bytes", Compact, bs(0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"compact/i64 varint overflows 64 bits", Compact, bs(0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02)},
		{"compact/binary length 2^31", Compact, bs(0x18, 0x80, 0x80, 0x80, 0x80, 0x08)},
		{"compact/binary length 2^32-1", Compact, bs(0x18, 0xff, 0xff, 0xff, 0xff, 0x0f)},
		{"compact/list size 2^31", Compact, bs(0x19, 0xf5, 0x80, 0x80, 0x80, 0x80, 0x08)},
		{"compact/list size varint over 5 bytes", Compact, bs(0x19, 0xf5, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)},
		{"compact/map size 2^31", Compact, bs(0x1b, 0x80, 0x80, 0x80, 0x80, 0x08)},
		{"compact/list elem type 0", Compact, bs(0x19, 0x10, 0x00)},
		{"compact/list elem type 14", Compact, bs(0x19, 0x1e)},
		{"compact/set elem type 15", Compact, bs(0x1a, 0x0f)},
		{"compact/map key type 0", Compact, bs(0x1b, 0x01, 0x05, 0x02, 0x02)},
		{"compact/map value type 14", Compact, bs(0x1b, 0x01, 0x5e)},
		{"compact/bad type in struct in list", Compact, bs(0x19, 0x1c, 0x1f)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			end, err := SkipStruct(tc.proto, tc.b, 0, 0)
			require.ErrorIs(t, err, ErrMalformed, "got end=%d err=%v", end, err)
			assert.Contains(t, err.Error(), "thriftwire: ")
			assert.Contains(t, err.Error(), "at offset ")
			assert.Equal(t, 0, end)
		})
	}
}

func TestSkipStructTooDeep(t *testing.T) {
	const n = 10000
	bombs := map[string]struct {
		p Proto
		b []byte
	}{
		// field 1: struct { field 1: struct { ... (never closed)
		"binary/structs": {Binary, bytes.Repeat(bs(0x0c, 0x00, 0x01), n)},
		// field 1: list<list> size 1 [ list<list> size 1 [ ...
		"binary/lists": {Binary, append(bs(0x0f, 0x00, 0x01), bytes.Repeat(bs(0x0f, 0, 0, 0, 1), n)...)},
		// field 1: map<i32, map> size 1 { 0: map ...
		"binary/maps":     {Binary, append(bs(0x0d, 0x00, 0x01), bytes.Repeat(bs(0x08, 0x0d, 0, 0, 0, 1, 0, 0, 0, 0), n)...)},
		"compact/structs": {Compact, bytes.Repeat(bs(0x1c), n)},
		// field 1: list size 1 elem list, then (size 1 elem list) ...
		"compact/lists": {Compact, append(bs(0x19), bytes.Repeat(bs(0x19), n)...)},
		// field 1: map size 1 key i32 value map: 0 -> ...
		"compact/maps": {Compact, append(bs(0x1b), bytes.Repeat(bs(0x01, 0x5b, 0x00), n)...)},
		// struct in list in struct in list ...
		"compact/mixed": {Compact, append(bs(0x19), bytes.Repeat(bs(0x1c, 0x19), n)...)},
	}
	for name, bomb := range bombs {
		t.Run(name, func(t *testing.T) {
			_, err := SkipStruct(bomb.p, bomb.b, 0, 0)
			require.ErrorIs(t, err, ErrTooDeep)
			_, err = SkipStruct(bomb.p, bomb.b, 0, 1000)
			require.ErrorIs(t, err, ErrTooDeep)
		})
	}

	// The limit itself: the top-level struct is depth 1.
	for _, p := range []Proto{Binary, Compact} {
		b := encStruct(p, nil, nest(10)) // 10 structs deep
		_, err := SkipStruct(p, b, 0, 10)
		require.NoError(t, err, p)
		_, err = SkipStruct(p, b, 0, 9)
		require.ErrorIs(t, err, ErrTooDeep, p)
		// Containers count too: struct > list > list = depth 3.
		b = encStruct(p, nil, tStruct{{1, tList{TypeList, []any{tList{TypeI32, nil}}}}})
		_, err = SkipStruct(p, b, 0, 3)
		require.NoError(t, err, p)
		_, err = SkipStruct(p, b, 0, 2)
		require.ErrorIs(t, err, ErrTooDeep, p)
		b = encStruct(p, nil, nest(DefaultMaxDepth))
		_, err = SkipStruct(p, b, 0, 0)
		require.NoError(t, err, p)
		b = encStruct(p, nil, nest(DefaultMaxDepth+1))
		_, err = SkipStruct(p, b, 0, 0)
		require.ErrorIs(t, err, ErrTooDeep, p)
	}
}

// Huge declared counts are rejected (as "need more bytes") up front, before
// any per-element loop, even for the smallest element types.
func TestSkipStructHugeCountsFailFast(t *testing.T) {
	cases := []struct {
		name string
		p    Proto
		b    []byte
	}{
		{"binary/list<bool> 2^31-1", Binary, bs(0x0f, 0x00, 0x01, 0x02, 0x7f, 0xff, 0xff, 0xff, 1, 0, 1)},
		{"binary/list<struct> 2^31-1", Binary, bs(0x0f, 0x00, 0x01, 0x0c, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0)},
		{"binary/map<byte,byte> 2^31-1", Binary, bs(0x0d, 0x00, 0x01, 0x03, 0x03, 0x7f, 0xff, 0xff, 0xff, 1, 2)},
		{"binary/string 2^31-1", Binary, bs(0x0b, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff, "abc")},
		{"compact/list<bool> 2^31-1", Compact, bs(0x19, 0xf2, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 0)},
		{"compact/list<struct> 2^31-1", Compact, bs(0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0)},
		{"compact/list<i32> 2^31-1", Compact, bs(0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x07, 0, 0, 0)},
		{"compact/map<bool,bool> 2^31-1", Compact, bs(0x1b, 0xff, 0xff, 0xff, 0xff, 0x07, 0x22, 1, 1)},
		{"compact/binary 2^31-1", Compact, bs(0x18, 0xff, 0xff, 0xff, 0xff, 0x07, "abc")},
		{"compact/list<double> 10 with 79 bytes", Compact, append(bs(0x19, 0xa7), make([]byte, 79)...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := SkipStruct(tc.p, tc.b, 0, 0)
			require.ErrorIs(t, err, ErrShort)
			require.Less(t, time.Since(start), 5*time.Second, "linear in the input, not exponential")
		})
	}
}

func TestSkipStructArgs(t *testing.T) {
	b := bs(0x00)
	_, err := SkipStruct(Binary, b, -1, 0)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = SkipStruct(Binary, b, 2, 0)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = SkipStruct(Proto(7), b, 0, 0)
	require.ErrorIs(t, err, ErrMalformed)
	_, err = SkipStruct(Binary, b, 1, 0) // off == len(b): nothing yet
	require.ErrorIs(t, err, ErrShort)
	_, err = SkipStruct(Compact, nil, 0, 0)
	require.ErrorIs(t, err, ErrShort)
}

func TestFirstField(t *testing.T) {
	cases := []struct {
		name   string
		p      Proto
		b      []byte
		id     int16
		typ    Type
		errIs  error
		offset int
	}{
		{"binary/stop", Binary, bs(0x00), 0, TypeStop, nil, 0},
		{"binary/field 0 struct", Binary, bs(0x0c, 0x00, 0x00), 0, TypeStruct, nil, 0},
		{"binary/field -3 map", Binary, bs(0x0d, 0xff, 0xfd), -3, TypeMap, nil, 0},
		{"binary/at offset", Binary, bs(0xee, 0x0b, 0x00, 0x02), 2, TypeString, nil, 1},
		{"binary/short header", Binary, bs(0x0b, 0x00), 0, 0, ErrShort, 0},
		{"binary/empty", Binary, nil, 0, 0, ErrShort, 0},
		{"binary/bad type", Binary, bs(0x07, 0x00, 0x01), 0, 0, ErrMalformed, 0},
		{"compact/stop", Compact, bs(0x00), 0, TypeStop, nil, 0},
		{"compact/short form bool false", Compact, bs(0x32), 3, TypeBool, nil, 0},
		{"compact/short form uuid", Compact, bs(0xfd), 15, TypeUUID, nil, 0},
		{"compact/long form 0 struct", Compact, bs(0x0c, 0x00), 0, TypeStruct, nil, 0},
		{"compact/long form 300 set", Compact, bs(0x0a, 0xd8, 0x04), 300, TypeSet, nil, 0},
		{"compact/long form -1 double", Compact, bs(0x07, 0x01), -1, TypeDouble, nil, 0},
		{"compact/long form truncated", Compact, bs(0x0c, 0x80), 0, 0, ErrShort, 0},
		{"compact/long form id out of range", Compact, bs(0x0c, 0x80, 0x80, 0x04), 0, 0, ErrMalformed, 0},
		{"compact/bad type", Compact, bs(0x1e), 0, 0, ErrMalformed, 0},
		{"compact/type 0 with delta", Compact, bs(0x20), 0, 0, ErrMalformed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, typ, err := FirstField(tc.p, tc.b, tc.offset)
			if tc.errIs != nil {
				require.ErrorIs(t, err, tc.errIs)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.id, id)
			assert.Equal(t, tc.typ, typ)
		})
	}
	_, _, err := FirstField(Binary, bs(0), 5)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestErrorFormat(t *testing.T) {
	_, err := SkipStruct(Binary, bs(0x08, 0x00, 0x01, 0, 0, 0, 1, 0x42), 0, 0)
	require.Error(t, err)
	assert.Equal(t, "thriftwire: invalid field type (byte 0x42) at offset 7: malformed thrift data", err.Error())
	assert.True(t, errors.Is(err, ErrMalformed))
	_, err = SkipStruct(Compact, bs(0x18, 0x05, "ab"), 0, 0)
	assert.Equal(t, "thriftwire: truncated string/binary (byte 0x05) at offset 1: short thrift data", err.Error())
}
