package hessian2

import (
	"math"
	"strings"
	"testing"

	hessian "github.com/apache/dubbo-go-hessian2"
	"github.com/stretchr/testify/require"
)

func writerStrings() []string {
	return []string{
		"", "a", strings.Repeat("a", 31), strings.Repeat("b", 32), strings.Repeat("c", 1023),
		strings.Repeat("d", 1024), strings.Repeat("e", 4097), strings.Repeat("f", 0x8000),
		strings.Repeat("g", 0x8001), strings.Repeat("0123456789", 10000),
		"héllo", "中文", strings.Repeat("漢", 0x8001), "😀", "a😀b🎉",
		// a pair straddling the 0x8000-unit chunk boundary must move whole
		// into the next chunk
		strings.Repeat("x", 0x7fff) + "😀" + "tail",
		strings.Repeat("🎉", 0x4001),
	}
}

// TestAppendStringDubboRoundTrip: what AppendString writes must decode with
// dubbo-go-hessian2 (and with ReadString) to the original.
func TestAppendStringDubboRoundTrip(t *testing.T) {
	for _, s := range writerStrings() {
		buf := AppendString(nil, s)
		got, err := hessian.NewDecoder(buf).Decode()
		require.NoError(t, err, "len %d", len(s))
		require.Equal(t, s, got, "len %d", len(s))

		var r Reader
		r.Reset(buf)
		mine, err := r.ReadString()
		require.NoError(t, err)
		require.Equal(t, s, mine)
		require.Zero(t, r.Len())
	}
}

// TestAppendStringMatchesDubboEncoder: up to dubbo-go-hessian2's own 4096
// unit chunk size both writers must produce identical bytes (including the
// CESU-8 form of supplementary characters).
func TestAppendStringMatchesDubboEncoder(t *testing.T) {
	for _, s := range []string{"", "a", strings.Repeat("a", 31), strings.Repeat("b", 32),
		strings.Repeat("c", 1023), strings.Repeat("d", 1024), strings.Repeat("e", 4096),
		"héllo", "中文", "😀", "a😀b🎉", strings.Repeat("中😀", 1000)} {
		enc := hessian.NewEncoder()
		require.NoError(t, enc.Encode(s))
		require.Equal(t, enc.Buffer(), AppendString(nil, s), "%.20q", s)
	}
}

func TestAppendStringChunking(t *testing.T) {
	long := strings.Repeat("x", 0x8001)
	buf := AppendString(nil, long)
	require.Equal(t, bs('R', 0x80, 0x00), buf[:3])
	require.Equal(t, bs(0x01, 'x'), buf[len(buf)-2:])

	// 0x7fff units, then a pair that would need 0x8001: the first chunk
	// stops at 0x7fff so the pair is not split.
	edge := strings.Repeat("x", 0x7fff) + "😀"
	buf = AppendString(nil, edge)
	require.Equal(t, bs('R', 0x7f, 0xff), buf[:3])
	require.Equal(t, bs(0x02, emojiCESU), buf[3+0x7fff:])
}

func TestAppendStringInvalidUTF8(t *testing.T) {
	buf := AppendString(nil, "a\xffb")
	require.Equal(t, bs(3, 'a', 0xef, 0xbf, 0xbd, 'b'), buf)
	got, err := hessian.NewDecoder(buf).Decode()
	require.NoError(t, err)
	require.Equal(t, "a\uFFFDb", got)
}

func TestAppendIntDubboRoundTrip(t *testing.T) {
	for _, v := range []int32{0, 1, -1, -0x10, -0x11, 0x2f, 0x30, -0x800, -0x801, 0x7ff, 0x800,
		-0x40000, -0x40001, 0x3ffff, 0x40000, math.MinInt32, math.MaxInt32} {
		buf := AppendInt(nil, v)
		enc := hessian.NewEncoder()
		require.NoError(t, enc.Encode(v))
		require.Equal(t, enc.Buffer(), buf, "%d", v)

		got, err := hessian.NewDecoder(buf).Decode()
		require.NoError(t, err)
		require.Equal(t, v, got)

		var r Reader
		r.Reset(buf)
		mine, err := r.ReadInt()
		require.NoError(t, err)
		require.Equal(t, v, mine)
	}
}

func TestAppendMapDubboRoundTrip(t *testing.T) {
	want := map[interface{}]interface{}{
		"path":    "org.meshproto.Svc",
		"中文":      "😀 " + strings.Repeat("long", 3000),
		"timeout": int32(3000),
		"nothing": nil,
	}
	var buf []byte
	buf = AppendMapStart(buf)
	buf = AppendString(buf, "path")
	buf = AppendString(buf, "org.meshproto.Svc")
	buf = AppendString(buf, "中文")
	buf = AppendString(buf, "😀 "+strings.Repeat("long", 3000))
	buf = AppendString(buf, "timeout")
	buf = AppendInt(buf, 3000)
	buf = AppendString(buf, "nothing")
	buf = AppendNull(buf)
	buf = AppendMapEnd(buf)

	got, err := hessian.NewDecoder(buf).Decode()
	require.NoError(t, err)
	require.Equal(t, want, got)

	var r Reader
	r.Reset(buf)
	require.NoError(t, r.Skip())
	require.Zero(t, r.Len())
}

func TestAppendAllocs(t *testing.T) {
	dst := make([]byte, 0, 1<<16)
	s := strings.Repeat("中😀a", 100)
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendMapStart(dst[:0])
		b = AppendString(b, s)
		b = AppendInt(b, 1<<20)
		b = AppendNull(b)
		_ = AppendMapEnd(b)
	})
	require.Zero(t, allocs)
}
