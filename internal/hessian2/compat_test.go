package hessian2

import (
	"math"
	"strings"
	"testing"
	"time"

	hessian "github.com/apache/dubbo-go-hessian2"
	big "github.com/dubbogo/gost/math/big"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// POJOs registered with dubbo-go-hessian2 so it writes class definitions,
// object instances and back-references ('Q') the way a Dubbo consumer does.
type testUser struct {
	Name   string
	Age    int32
	Email  string
	Tags   []string
	Attrs  map[string]string
	Friend *testUser
}

func (testUser) JavaClassName() string { return "org.meshproto.test.User" }

type testOrder struct {
	ID      int64
	Owner   *testUser
	Items   []interface{}
	Amount  float64
	Created time.Time
	Note    string
}

func (testOrder) JavaClassName() string { return "org.meshproto.test.Order" }

type testEmpty struct{}

func (testEmpty) JavaClassName() string { return "org.meshproto.test.Empty" }

func init() {
	hessian.RegisterPOJO(&testUser{})
	hessian.RegisterPOJO(&testOrder{})
	hessian.RegisterPOJO(&testEmpty{})
}

type compatCase struct {
	name string
	v    interface{}
}

func strCase(name, s string) compatCase { return compatCase{name: "string/" + name, v: s} }

func bytesOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// compatCases covers every encoding dubbo-go-hessian2 v1.10.2 produces, with
// values at the boundaries where it switches encodings.
func compatCases() []compatCase {
	var cs []compatCase
	for _, v := range []int32{0, 1, -1, -0x10, -0x11, 0x2f, 0x30, -0x800, -0x801, 0x7ff, 0x800,
		-0x40000, -0x40001, 0x3ffff, 0x40000, math.MinInt32, math.MaxInt32} {
		cs = append(cs, compatCase{name: "int32", v: v})
	}
	for _, v := range []int64{0, -8, -9, 15, 16, -0x800, -0x801, 0x7ff, 0x800, -0x40000, -0x40001,
		0x3ffff, 0x40000, math.MinInt32, math.MaxInt32, math.MinInt32 - 1, math.MaxInt32 + 1,
		math.MinInt64, math.MaxInt64} {
		cs = append(cs, compatCase{name: "int64", v: v})
	}
	for _, v := range []float64{0, 1, -1, 127, -128, 128, -129, 32767, -32768, 32768, 1.5, 0.1,
		-2.25, 1e300, math.SmallestNonzeroFloat64, math.Inf(1)} {
		cs = append(cs, compatCase{name: "float64", v: v})
	}
	for _, v := range []float32{0, 1, 100, 1.5, 0.125, 3.4e38} {
		cs = append(cs, compatCase{name: "float32", v: v}) // 0x5f for "millis" values
	}
	cs = append(cs,
		compatCase{name: "nil", v: nil},
		compatCase{name: "true", v: true},
		compatCase{name: "false", v: false},
		compatCase{name: "time", v: time.Unix(1700000000, 123e6)},
		compatCase{name: "time/zero-is-null", v: time.Time{}},
	)
	cs = append(cs,
		strCase("empty", ""),
		strCase("short", "hello"),
		strCase("31", strings.Repeat("a", 31)),
		strCase("32", strings.Repeat("b", 32)),
		strCase("1023", strings.Repeat("c", 1023)),
		strCase("1024", strings.Repeat("d", 1024)),
		strCase("4096", strings.Repeat("e", 4096)),
		strCase("4097", strings.Repeat("f", 4097)),
		strCase("0x8000", strings.Repeat("g", 0x8000)),
		strCase("0x8001", strings.Repeat("h", 0x8001)),
		strCase("70000", strings.Repeat("0123456789", 7000)),
		strCase("cjk", "中文字符串"),
		strCase("cjk-long", strings.Repeat("漢字かな", 2500)),
		strCase("latin", "héllo wörld ß"),
		strCase("emoji", "😀"),
		strCase("mixed", "a中😀b🎉é"),
		// 4095 units then a pair: dubbo-go-hessian2 lets the chunk grow to
		// 4097 units rather than split the pair.
		strCase("emoji-chunk-edge", "a"+strings.Repeat("😀", 3000)),
		strCase("emoji-long", strings.Repeat("🎉x", 5000)),
	)
	for _, n := range []int{0, 1, 15, 16, 1023, 1024, 4096, 4097, 70000} {
		cs = append(cs, compatCase{name: "bytes", v: bytesOf(n)})
	}
	cs = append(cs,
		compatCase{name: "list/interface", v: []interface{}{int32(1), "a", nil, 2.5, true, []interface{}{}}},
		compatCase{name: "list/string", v: []string{"x", "yy", ""}},
		compatCase{name: "list/int32", v: []int32{1, -1, 1 << 20}},
		compatCase{name: "list/int64", v: []int64{1, 1 << 40}},
		compatCase{name: "list/empty-string", v: []string{}},
		compatCase{name: "map/interface", v: map[interface{}]interface{}{"a": int32(1), int32(2): "b", "n": nil}},
		compatCase{name: "map/string", v: map[string]string{"k1": "v1", "k2": "中"}},
		compatCase{name: "map/nested", v: map[interface{}]interface{}{"l": []interface{}{"x", map[interface{}]interface{}{"y": true}}}},
		compatCase{name: "map/empty", v: map[interface{}]interface{}{}},
	)
	return cs
}

// pojoCases builds values that share class definitions and references, so
// they must be encoded in one stream (one hessian.Encoder) to exercise the
// class table and 'Q'.
func pojoCases() []compatCase {
	friend := &testUser{Name: "bob", Age: 40}
	u := &testUser{Name: "alice", Age: 30, Email: "a@example.com", Tags: []string{"x", "y"},
		Attrs: map[string]string{"tier": "gold"}, Friend: friend}
	order := &testOrder{ID: 1 << 40, Owner: u, Items: []interface{}{"sku-1", int32(2), friend},
		Amount: 12.5, Created: time.Unix(1700000000, 0), Note: "rush 🚚"}
	var dec big.Decimal
	_ = dec.FromString("100.256")
	return []compatCase{
		{name: "pojo/user", v: u},
		{name: "pojo/user-again-ref", v: u},
		{name: "pojo/by-value", v: testUser{Name: "carol"}},
		{name: "pojo/nested-order", v: order},
		{name: "pojo/slice", v: []*testUser{friend, u, {Name: "dave"}}},
		{name: "pojo/interface-slice", v: []interface{}{order, u, "tail"}},
		{name: "pojo/empty", v: &testEmpty{}},
		{name: "pojo/empty-again", v: &testEmpty{}},
		{name: "pojo/in-map", v: map[interface{}]interface{}{"user": u, "new": &testUser{Name: "erin"}}},
		{name: "pojo/decimal", v: &dec},
	}
}

// encodeStream encodes vals into one Hessian stream and returns, from
// dubbo-go-hessian2's own decoder, the offset at which each value ends and
// the decoded values. The decoder has no position API; it reads through a
// bufio.Reader, so giving it a buffer larger than the input makes the first
// fill load everything and position = len(buf) - Buffered().
func encodeStream(t testing.TB, vals []compatCase) (buf []byte, ends []int, decoded []interface{}) {
	t.Helper()
	enc := hessian.NewEncoder()
	for _, c := range vals {
		require.NoError(t, enc.Encode(c.v), c.name)
	}
	buf = enc.Buffer()
	dec := hessian.NewDecoderSize(buf, len(buf)+16)
	for _, c := range vals {
		v, err := dec.Decode()
		require.NoError(t, err, c.name)
		ends = append(ends, len(buf)-dec.Buffered())
		decoded = append(decoded, v)
	}
	require.Equal(t, len(buf), ends[len(ends)-1], "dubbo-go-hessian2 left bytes unread")
	return buf, ends, decoded
}

func TestSkipMatchesDubboDecoderEachValue(t *testing.T) {
	for _, c := range append(compatCases(), pojoCases()...) {
		enc := hessian.NewEncoder()
		require.NoError(t, enc.Encode(c.v), c.name)
		buf := enc.Buffer()
		var r Reader
		r.Reset(buf)
		require.NoError(t, r.Skip(), "%s: % x", c.name, head(buf))
		assert.Equal(t, len(buf), r.Pos(), c.name)
	}
}

func TestSkipMatchesDubboDecoderSharedStream(t *testing.T) {
	streams := map[string][]compatCase{
		"scalars":     compatCases(),
		"pojos":       pojoCases(),
		"interleaved": interleave(compatCases(), pojoCases()),
	}
	for name, vals := range streams {
		t.Run(name, func(t *testing.T) {
			buf, ends, decoded := encodeStream(t, vals)
			if name == "pojos" {
				// The same pointer again is written as a back-reference,
				// a new instance of a known class as a bare class ref.
				require.Equal(t, byte('Q'), buf[ends[0]], "user-again should be a ref")
				require.Equal(t, byte(0x60), buf[ends[1]]&0xf0, "by-value should reuse the class def")
				// Go gives every zero-size allocation the same address, so
				// dubbo-go-hessian2's pointer-keyed ref map turns a second,
				// distinct &testEmpty{} into a back-reference too.
				require.Equal(t, byte('Q'), buf[ends[6]], "empty-again shares the zero-size address")
			}

			// Pass 1: Skip every value.
			var r Reader
			r.Reset(buf)
			start := 0
			for i, c := range vals {
				require.NoError(t, r.Skip(), "%s at %d: % x", c.name, start, head(buf[start:]))
				require.Equal(t, ends[i], r.Pos(), "value %d (%s)", i, c.name)
				start = r.Pos()
			}
			assert.Zero(t, r.Len())

			// Pass 2: read strings and ints instead of skipping them,
			// and compare with dubbo-go-hessian2's decoded values.
			r.Reset(buf)
			for i, c := range vals {
				switch want := decoded[i].(type) {
				case string:
					require.True(t, r.PeekIsString(), c.name)
					got, err := r.ReadString()
					require.NoError(t, err, c.name)
					require.Equal(t, want, got, c.name)
				case int32:
					got, err := r.ReadInt()
					require.NoError(t, err, c.name)
					require.Equal(t, want, got, c.name)
				case int64:
					got, err := r.ReadInt()
					if want >= math.MinInt32 && want <= math.MaxInt32 {
						require.NoError(t, err, c.name)
						require.Equal(t, int32(want), got, c.name)
						break
					}
					require.ErrorIs(t, err, ErrMalformed, c.name)
					require.NoError(t, r.Skip())
				default:
					require.False(t, r.PeekIsString(), c.name)
					require.NoError(t, r.Skip(), c.name)
				}
				require.Equal(t, ends[i], r.Pos(), "value %d (%s)", i, c.name)
			}
		})
	}
}

// TestDubboRequestBody walks a body laid out as Dubbo 2.x writes a request:
// version, service path, service version, method, parameter descriptor, the
// arguments, then the attachment map. The proxy reads the strings, skips
// the arguments and reads the attachments; a class definition written in
// the first POJO argument is used again by a later one.
func TestDubboRequestBody(t *testing.T) {
	u := &testUser{Name: "alice", Age: 30}
	attachments := map[interface{}]interface{}{
		"path": "org.meshproto.test.UserService", "interface": "org.meshproto.test.UserService",
		"version": "1.0.0", "timeout": "3000", "trace-id": "中文-😀",
	}
	head := []interface{}{"2.0.2", "org.meshproto.test.UserService", "1.0.0", "updateUser",
		"Lorg/meshproto/test/User;Ljava/lang/String;Lorg/meshproto/test/User;"}
	args := []interface{}{u, strings.Repeat("x", 1024), &testUser{Name: "bob", Friend: u}}

	enc := hessian.NewEncoder()
	for _, v := range head {
		require.NoError(t, enc.Encode(v))
	}
	for _, v := range args {
		require.NoError(t, enc.Encode(v))
	}
	require.NoError(t, enc.Encode(attachments))
	buf := enc.Buffer()

	var r Reader
	r.Reset(buf)
	for _, want := range head {
		got, err := r.ReadString()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for range args {
		require.NoError(t, r.Skip())
	}
	isNull, err := r.MapBegin()
	require.NoError(t, err)
	require.False(t, isNull)
	got := map[interface{}]interface{}{}
	for {
		more, err := r.MapNext()
		require.NoError(t, err)
		if !more {
			break
		}
		k, err := r.ReadString()
		require.NoError(t, err)
		v, err := r.ReadString()
		require.NoError(t, err)
		got[k] = v
	}
	require.Equal(t, attachments, got)
	require.Zero(t, r.Len())
}

func interleave(a, b []compatCase) []compatCase {
	var out []compatCase
	for i := 0; i < len(a) || i < len(b); i++ {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

func head(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
