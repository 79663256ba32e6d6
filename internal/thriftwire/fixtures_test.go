package thriftwire

import (
	"fmt"
	"math"
)

// bs concatenates fixture parts: ints are single bytes (0..255), strings
// and byte slices are copied verbatim.
func bs(parts ...any) []byte {
	var out []byte
	for _, p := range parts {
		switch x := p.(type) {
		case int:
			if x < 0 || x > 255 {
				panic(fmt.Sprintf("bs: byte out of range: %d", x))
			}
			out = append(out, byte(x))
		case string:
			out = append(out, x...)
		case []byte:
			out = append(out, x...)
		case tUUID:
			out = append(out, x[:]...)
		default:
			panic(fmt.Sprintf("bs: unsupported %T", p))
		}
	}
	return out
}

// uuidV is the UUID used by the fixtures: 16 raw bytes, no length prefix.
var uuidV = tUUID{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00}

// structFixture is one complete struct encoding. desc, when set, is the
// same struct for the test writer, which must produce identical bytes.
type structFixture struct {
	name    string
	proto   Proto
	b       []byte
	desc    tStruct
	firstID int16
	firstT  Type
}

// piBits is math.Pi as IEEE 754 bits: binary writes them big endian,
// compact little endian.
const piBits = 0x400921FB54442D18

func structFixtures() []structFixture {
	return []structFixture{
		// ---------------------------------------------------------------
		// Binary protocol: field = type(1) id(i16 BE) value; STOP = 0x00.
		// ---------------------------------------------------------------
		{name: "binary/empty", proto: Binary, firstT: TypeStop,
			b:    bs(0x00), // STOP
			desc: tStruct{}},
		{name: "binary/scalars", proto: Binary, firstID: 1, firstT: TypeBool,
			b: bs(
				0x02, 0x00, 0x01, 0x01, // 1: bool true
				0x02, 0x00, 0x02, 0x00, // 2: bool false
				0x03, 0x00, 0x03, 0xff, // 3: byte -1
				0x06, 0x00, 0x04, 0x00, 0x07, // 4: i16 7
				0x08, 0x00, 0x05, 0xff, 0xff, 0xff, 0xfe, // 5: i32 -2
				0x0a, 0x00, 0x06, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // 6: i64 256
				0x04, 0x00, 0x07, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, // 7: double 1.0 (big endian)
				0x0b, 0x00, 0x08, 0, 0, 0, 2, "hi", // 8: string "hi"
				0x10, 0x00, 0x09, uuidV, // 9: uuid (16 bytes, no length)
				0x00), // STOP
			desc: tStruct{{1, true}, {2, false}, {3, int8(-1)}, {4, int16(7)}, {5, int32(-2)},
				{6, int64(256)}, {7, 1.0}, {8, "hi"}, {9, uuidV}}},
		{name: "binary/negative-and-extreme-ids", proto: Binary, firstID: -1, firstT: TypeI32,
			b: bs(
				0x08, 0xff, 0xff, 0, 0, 0, 1, // -1: i32 1
				0x0b, 0x80, 0x00, 0, 0, 0, 0, // -32768: string ""
				0x02, 0x7f, 0xff, 0x01, // 32767: bool true
				0x00),
			desc: tStruct{{-1, int32(1)}, {-32768, ""}, {32767, true}}},
		{name: "binary/nested-structs", proto: Binary, firstID: 1, firstT: TypeStruct,
			b: bs(
				0x0c, 0x00, 0x01, // 1: struct {
				0x0c, 0x00, 0x01, //   1: struct {
				0x08, 0x00, 0x01, 0, 0, 0, 42, //     1: i32 42
				0x00,                   //   }
				0x00,                   // }
				0x0c, 0x00, 0x02, 0x00, // 2: struct {}
				0x00),
			desc: tStruct{{1, tStruct{{1, tStruct{{1, int32(42)}}}}}, {2, tStruct{}}}},
		{name: "binary/empty-containers", proto: Binary, firstID: 1, firstT: TypeList,
			b: bs(
				0x0f, 0x00, 0x01, 0x08, 0, 0, 0, 0, // 1: list<i32> []
				0x0e, 0x00, 0x02, 0x0b, 0, 0, 0, 0, // 2: set<string> {}
				0x0d, 0x00, 0x03, 0x0b, 0x0c, 0, 0, 0, 0, // 3: map<string,struct> {}
				0x0f, 0x00, 0x04, 0x0c, 0, 0, 0, 0, // 4: list<struct> []
				0x00),
			desc: tStruct{{1, tList{TypeI32, nil}}, {2, tSet{TypeString, nil}},
				{3, tMap{TypeString, TypeStruct, nil}}, {4, tList{TypeStruct, nil}}}},
		{name: "binary/containers", proto: Binary, firstID: 1, firstT: TypeList,
			b: bs(
				0x0f, 0x00, 0x01, 0x02, 0, 0, 0, 3, 0x01, 0x00, 0x01, // 1: list<bool> [true false true]
				0x0d, 0x00, 0x02, 0x08, 0x02, 0, 0, 0, 2, // 2: map<i32,bool> size 2
				0, 0, 0, 1, 0x01, //    1: true
				0, 0, 0, 2, 0x00, //    2: false
				0x0d, 0x00, 0x03, 0x0b, 0x0f, 0, 0, 0, 2, // 3: map<string,list<struct>> size 2
				0, 0, 0, 1, "a", 0x0c, 0, 0, 0, 2, //    "a": list<struct> size 2
				0x08, 0x00, 0x01, 0, 0, 0, 1, 0x00, //      {1: i32 1}
				0x00,                              //      {}
				0, 0, 0, 1, "b", 0x0c, 0, 0, 0, 0, //    "b": list<struct> []
				0x0e, 0x00, 0x04, 0x0a, 0, 0, 0, 2, // 4: set<i64> size 2
				0, 0, 0, 0, 0, 0, 0, 1, //    1
				0, 0, 0, 0, 0, 0, 0, 2, //    2
				0x0f, 0x00, 0x05, 0x10, 0, 0, 0, 1, uuidV, // 5: list<uuid> [uuid]
				0x0f, 0x00, 0x06, 0x0f, 0, 0, 0, 2, // 6: list<list<i32>> size 2
				0x08, 0, 0, 0, 1, 0, 0, 0, 7, //    [7]
				0x08, 0, 0, 0, 0, //    []
				0x0f, 0x00, 0x07, 0x04, 0, 0, 0, 1, // 7: list<double> size 1
				0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18, //    pi
				0x00),
			desc: tStruct{
				{1, tList{TypeBool, []any{true, false, true}}},
				{2, tMap{TypeI32, TypeBool, []any{int32(1), true, int32(2), false}}},
				{3, tMap{TypeString, TypeList, []any{
					"a", tList{TypeStruct, []any{tStruct{{1, int32(1)}}, tStruct{}}},
					"b", tList{TypeStruct, nil}}}},
				{4, tSet{TypeI64, []any{int64(1), int64(2)}}},
				{5, tList{TypeUUID, []any{uuidV}}},
				{6, tList{TypeList, []any{tList{TypeI32, []any{int32(7)}}, tList{TypeI32, nil}}}},
				{7, tList{TypeDouble, []any{math.Pi}}},
			}},
		{name: "binary/list-20-bytes", proto: Binary, firstID: 1, firstT: TypeList,
			b: bs(
				0x0f, 0x00, 0x01, 0x03, 0, 0, 0, 20, // 1: list<byte> size 20
				"abcdefghijklmnopqrst",
				0x00),
			desc: tStruct{{1, tList{TypeByte, bytesAsI8("abcdefghijklmnopqrst")}}}},
		{name: "binary/greet-request", proto: Binary, firstID: 1, firstT: TypeString,
			b:    greetBinary,
			desc: greetDesc},
		{name: "binary/result-success", proto: Binary, firstID: 0, firstT: TypeString,
			b: bs(
				0x0b, 0x00, 0x00, 0, 0, 0, 5, "hello", // 0: success string
				0x00),
			desc: tStruct{{0, "hello"}}},
		{name: "binary/result-declared-exception", proto: Binary, firstID: 1, firstT: TypeStruct,
			b: bs(
				0x0c, 0x00, 0x01, // 1: GreetError {
				0x0b, 0x00, 0x01, 0, 0, 0, 3, "bad", //   1: string "bad"
				0x00, // }
				0x00),
			desc: tStruct{{1, tStruct{{1, "bad"}}}}},

		// ---------------------------------------------------------------
		// Compact protocol: short field header = delta<<4 | ctype, long
		// form = ctype then zigzag varint id; bool fields live in the header.
		// ---------------------------------------------------------------
		{name: "compact/empty", proto: Compact, firstT: TypeStop,
			b:    bs(0x00),
			desc: tStruct{}},
		{name: "compact/scalars", proto: Compact, firstID: 1, firstT: TypeBool,
			b: bs(
				0x11,       // 1: bool true  (delta 1, BOOLEAN_TRUE; no value byte)
				0x12,       // 2: bool false (delta 1, BOOLEAN_FALSE; no value byte)
				0x13, 0xff, // 3: byte -1
				0x14, 0x0e, // 4: i16 7 (zigzag 14)
				0x15, 0x03, // 5: i32 -2 (zigzag 3)
				0x16, 0x80, 0x04, // 6: i64 256 (zigzag 512)
				0x17, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // 7: double 1.0 (little endian)
				0x18, 0x02, "hi", // 8: binary "hi"
				0x1d, uuidV, // 9: uuid
				0x00),
			desc: tStruct{{1, true}, {2, false}, {3, int8(-1)}, {4, int16(7)}, {5, int32(-2)},
				{6, int64(256)}, {7, 1.0}, {8, "hi"}, {9, uuidV}}},
		{name: "compact/negative-and-extreme-ids", proto: Compact, firstID: -1, firstT: TypeI32,
			b: bs(
				0x05, 0x01, 0x02, // -1: long form (zigzag 1), i32 1 (zigzag 2)
				0x08, 0xff, 0xff, 0x03, 0x00, // -32768: long form (zigzag 65535), binary ""
				0x01, 0xfe, 0xff, 0x03, // 32767: long form (zigzag 65534), bool true, no value
				0x00),
			desc: tStruct{{-1, int32(1)}, {-32768, ""}, {32767, true}}},
		{name: "compact/deltas-and-long-form", proto: Compact, firstID: 1, firstT: TypeI32,
			b: bs(
				0x15, 0x02, // 1: i32 1
				0xf5, 0x04, // 16 (delta 15, the largest short form): i32 2
				0x05, 0x50, 0x06, // 40 (delta 24: long form, zigzag 80): i32 3
				0x11,             // 41 (delta 1): bool true
				0x05, 0x06, 0x08, // 3 (going back: long form, zigzag 6): i32 4
				0x00),
			desc: tStruct{{1, int32(1)}, {16, int32(2)}, {40, int32(3)}, {41, true}, {3, int32(4)}}},
		{name: "compact/long-form-where-short-would-do", proto: Compact, firstID: 2, firstT: TypeBool,
			b: bs(
				0x02, 0x04, // 2: long form (zigzag 4) bool false, no value
				0x0c, 0x06, 0x00, // 3: long form (zigzag 6) struct {}
				0x00)},
		{name: "compact/nested-structs", proto: Compact, firstID: 1, firstT: TypeStruct,
			b: bs(
				0x1c,       // 1: struct {
				0x1c,       //   1: struct {
				0x15, 0x54, //     1: i32 42 (zigzag 84)
				0x00,       //   }
				0x00,       // }
				0x1c, 0x00, // 2: struct {}
				0x00),
			desc: tStruct{{1, tStruct{{1, tStruct{{1, int32(42)}}}}}, {2, tStruct{}}}},
		{name: "compact/empty-containers", proto: Compact, firstID: 1, firstT: TypeList,
			b: bs(
				0x19, 0x05, // 1: list, size 0, elem i32
				0x1a, 0x08, // 2: set, size 0, elem binary
				0x1b, 0x00, // 3: map, size 0: no key/value type byte
				0x19, 0x0c, // 4: list, size 0, elem struct
				0x00),
			desc: tStruct{{1, tList{TypeI32, nil}}, {2, tSet{TypeString, nil}},
				{3, tMap{TypeString, TypeStruct, nil}}, {4, tList{TypeStruct, nil}}}},
		{name: "compact/containers", proto: Compact, firstID: 1, firstT: TypeList,
			b: bs(
				0x19, 0x32, 0x01, 0x00, 0x01, // 1: list size 3 elem bool(2): 1 byte each
				0x1b, 0x02, 0x52, // 2: map size 2, key i32(5) value bool(2)
				0x02, 0x01, //    1 (zigzag 2): true
				0x04, 0x00, //    2 (zigzag 4): false
				0x1b, 0x02, 0x89, // 3: map size 2, key binary(8) value list(9)
				0x01, "a", 0x2c, //    "a": list size 2 elem struct
				0x15, 0x02, 0x00, //      {1: i32 1}
				0x00,            //      {}
				0x01, "b", 0x0c, //    "b": list size 0 elem struct
				0x1a, 0x26, 0x02, 0x04, // 4: set size 2 elem i64: 1, 2 (zigzag)
				0x19, 0x1d, uuidV, // 5: list size 1 elem uuid
				0x19, 0x29, // 6: list size 2 elem list
				0x15, 0x0e, //    [7]: size 1 elem i32, zigzag 14
				0x05,       //    []: size 0 elem i32
				0x19, 0x17, // 7: list size 1 elem double
				0x18, 0x2d, 0x44, 0x54, 0xfb, 0x21, 0x09, 0x40, //    pi (little endian)
				0x00),
			desc: tStruct{
				{1, tList{TypeBool, []any{true, false, true}}},
				{2, tMap{TypeI32, TypeBool, []any{int32(1), true, int32(2), false}}},
				{3, tMap{TypeString, TypeList, []any{
					"a", tList{TypeStruct, []any{tStruct{{1, int32(1)}}, tStruct{}}},
					"b", tList{TypeStruct, nil}}}},
				{4, tSet{TypeI64, []any{int64(1), int64(2)}}},
				{5, tList{TypeUUID, []any{uuidV}}},
				{6, tList{TypeList, []any{tList{TypeI32, []any{int32(7)}}, tList{TypeI32, nil}}}},
				{7, tList{TypeDouble, []any{math.Pi}}},
			}},
		{name: "compact/bool-elements-as-java-writes-them", proto: Compact, firstID: 1, firstT: TypeList,
			b: bs(
				0x19, 0x31, 0x01, 0x02, 0x01, // 1: list size 3, elem type 1 (BOOLEAN_TRUE); values 1/2
				0x1b, 0x01, 0x11, 0x01, 0x02, // 2: map size 1, bool(1)->bool(1): true -> false
				0x00)},
		{name: "compact/list-long-form-size", proto: Compact, firstID: 1, firstT: TypeList,
			b: bs(
				0x19, 0xf3, 0x14, // 1: list, size nibble 0xF: varint size 20 follows, elem byte
				"abcdefghijklmnopqrst",
				0x00),
			desc: tStruct{{1, tList{TypeByte, bytesAsI8("abcdefghijklmnopqrst")}}}},
		{name: "compact/list-long-form-small-size", proto: Compact, firstID: 1, firstT: TypeList,
			b: bs(
				0x19, 0xf5, 0x02, 0x02, 0x04, // 1: list long form with size 2 (< 15, still valid)
				0x00)},
		{name: "compact/greet-request", proto: Compact, firstID: 1, firstT: TypeString,
			b:    greetCompact,
			desc: greetDesc},
		{name: "compact/result-success", proto: Compact, firstID: 0, firstT: TypeString,
			b: bs(
				0x08, 0x00, 0x05, "hello", // 0: long form (delta 0 is impossible), binary
				0x00),
			desc: tStruct{{0, "hello"}}},
		{name: "compact/result-declared-exception", proto: Compact, firstID: 1, firstT: TypeStruct,
			b: bs(
				0x1c,              // 1: GreetError {
				0x18, 0x03, "bad", //   1: binary "bad"
				0x00, // }
				0x00),
			desc: tStruct{{1, tStruct{{1, "bad"}}}}},
	}
}

func bytesAsI8(s string) []any {
	out := make([]any, len(s))
	for i := range s {
		out[i] = int8(s[i])
	}
	return out
}

// GreetRequest-like struct:
//
//	struct Locale { 1: string lang, 2: string region }
//	struct GreetRequest {
//	  1: string name, 2: i32 times, 3: map<string,string> headers,
//	  4: list<string> tags, 5: bool polite, 6: Locale locale, 7: i64 deadline_ms }
var greetDesc = tStruct{
	{1, "alice"},
	{2, int32(3)},
	{3, tMap{TypeString, TypeString, []any{"x-trace", "abc"}}},
	{4, tList{TypeString, []any{"hi", "yo!"}}},
	{5, true},
	{6, tStruct{{1, "en"}, {2, "GB"}}},
	{7, int64(1000)},
}

var greetBinary = bs(
	0x0b, 0x00, 0x01, 0, 0, 0, 5, "alice", // 1: name
	0x08, 0x00, 0x02, 0, 0, 0, 3, // 2: times
	0x0d, 0x00, 0x03, 0x0b, 0x0b, 0, 0, 0, 1, // 3: map<string,string> size 1
	0, 0, 0, 7, "x-trace", 0, 0, 0, 3, "abc",
	0x0f, 0x00, 0x04, 0x0b, 0, 0, 0, 2, // 4: list<string> size 2
	0, 0, 0, 2, "hi", 0, 0, 0, 3, "yo!",
	0x02, 0x00, 0x05, 0x01, // 5: polite = true
	0x0c, 0x00, 0x06, // 6: Locale {
	0x0b, 0x00, 0x01, 0, 0, 0, 2, "en",
	0x0b, 0x00, 0x02, 0, 0, 0, 2, "GB",
	0x00,                                           // }
	0x0a, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, // 7: deadline_ms 1000
	0x00)

var greetCompact = bs(
	0x18, 0x05, "alice", // 1: name
	0x15, 0x06, // 2: times 3 (zigzag 6)
	0x1b, 0x01, 0x88, 0x07, "x-trace", 0x03, "abc", // 3: map size 1 binary->binary
	0x19, 0x28, 0x02, "hi", 0x03, "yo!", // 4: list size 2 elem binary
	0x11,                                           // 5: polite = true (in the header)
	0x1c, 0x18, 0x02, "en", 0x18, 0x02, "GB", 0x00, // 6: Locale
	0x16, 0xd0, 0x0f, // 7: deadline_ms 1000 (zigzag 2000)
	0x00)
