package boltwire

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixture reads examples/bolt/fixtures/<name>.hex (frames captured from
// sofa-rpc-node 2.10.0) and the fields its header comment states.
func fixture(t testing.TB, path string) ([]byte, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var hexText strings.Builder
	want := map[string]string{}
	field := regexp.MustCompile(`\b(proto|ver1|type|cmdcode|ver2|requestId|codec|switch|timeout|respStatus|classLen|headerLen|contentLen)=(\d+)`)
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "#") {
			if strings.Contains(line, " bytes; ") {
				for _, m := range field.FindAllStringSubmatch(line, -1) {
					want[m[1]] = m[2]
				}
				want["bytes"] = strings.Fields(strings.TrimPrefix(line, "# "))[0]
			}
			if v, ok := strings.CutPrefix(line, "# header map: "); ok {
				want["headers"] = v
			}
			if v, ok := strings.CutPrefix(line, "# class: "); ok {
				want["class"] = v
			}
			continue
		}
		hexText.WriteString(strings.TrimSpace(line))
	}
	b, err := hex.DecodeString(hexText.String())
	require.NoError(t, err, path)
	return b, want
}

func fixtures(t testing.TB) []string {
	files, err := filepath.Glob("../../examples/bolt/fixtures/*.hex")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 27)
	return files
}

// TestCapturedFrames: every captured frame of every kind peeks and splits
// to exactly the fields the capture recorded.
func TestCapturedFrames(t *testing.T) {
	for _, path := range fixtures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			b, want := fixture(t, path)
			num := func(k string) int {
				n, err := strconv.Atoi(want[k])
				require.NoError(t, err, "%s in the fixture header", k)
				return n
			}
			h, err := Peek(b, 1<<20)
			require.NoError(t, err)
			require.NotNil(t, h)
			assert.Equal(t, num("bytes"), len(b))
			assert.Equal(t, len(b), h.FrameLen, "frame length from the length fields")
			assert.Equal(t, num("proto"), int(h.Proto))
			assert.Equal(t, num("type"), int(h.Type))
			assert.Equal(t, num("cmdcode"), int(h.CmdCode))
			assert.Equal(t, num("requestId"), int(h.RequestID))
			assert.Equal(t, num("codec"), int(h.Codec))
			assert.Equal(t, num("classLen"), int(h.ClassLen))
			assert.Equal(t, num("headerLen"), int(h.HeaderLen))
			assert.Equal(t, num("contentLen"), int(h.ContentLen))
			if h.IsRequest() {
				assert.Equal(t, num("timeout"), int(h.Timeout))
			} else {
				assert.Equal(t, num("respStatus"), int(h.Status))
			}
			parts := Split(h, b)
			if c := want["class"]; c != "" && !strings.HasPrefix(c, "(none)") {
				assert.Equal(t, c, string(parts.Class))
			}
			var got []string
			require.NoError(t, RangeHeaders(parts.Headers, func(k, v []byte) bool {
				got = append(got, string(k)+"="+string(v))
				return true
			}))
			if hm := want["headers"]; hm != "" && !strings.HasPrefix(hm, "(empty)") {
				assert.Equal(t, hm, strings.Join(got, ", "))
			} else {
				assert.Empty(t, got)
			}
			// Every shorter prefix asks for more bytes, never errs.
			for n := 0; n < h.Len; n++ {
				hh, err := Peek(b[:n], 1<<20)
				assert.NoError(t, err)
				assert.Nil(t, hh)
			}
		})
	}
}

// TestPipelinedStream: five pipelined requests back to back split into
// five frames with ids 1..5 (as sofa-rpc-node wrote them in one write).
func TestPipelinedStream(t *testing.T) {
	for _, name := range []string{"v1_pipelined_5_requests", "v1_pipelined_5_responses"} {
		b, _ := fixture(t, "../../examples/bolt/fixtures/streams/"+name+".hex")
		var ids []uint32
		for len(b) > 0 {
			h, err := Peek(b, 1<<20)
			require.NoError(t, err)
			require.NotNil(t, h)
			ids = append(ids, h.RequestID)
			b = b[h.FrameLen:]
		}
		assert.Len(t, ids, 5, name)
	}
}

func TestBadInput(t *testing.T) {
	b, _ := fixture(t, "../../examples/bolt/fixtures/v1_request_echo_props.hex")
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		max  int
		err  error
	}{
		{"unknown protocol byte", func(b []byte) []byte { b[0] = 5; return b }, 0, ErrProtocol},
		{"unknown type", func(b []byte) []byte { b[1] = 9; return b }, 0, ErrProtocol},
		{"unknown command", func(b []byte) []byte { b[3] = 7; return b }, 0, ErrProtocol},
		{"over the bound", func(b []byte) []byte { return b }, 100, ErrTooLarge},
		{"content length 4 GiB", func(b []byte) []byte { copy(b[18:], []byte{0xff, 0xff, 0xff, 0xff}); return b }, 8 << 20, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Peek(tc.edit(append([]byte(nil), b...)), tc.max)
			assert.ErrorIs(t, err, tc.err)
		})
	}
	for _, hm := range [][]byte{
		{0, 0, 0},         // truncated length
		{0, 0, 0, 9, 'a'}, // key past the end
		{0, 0, 0, 1, 'a', 0xff, 0xff, 0xff, 0xfe}, // negative value length
	} {
		assert.ErrorIs(t, RangeHeaders(hm, func(k, v []byte) bool { return true }), ErrHeaders, "%x", hm)
	}
	// -1 is sofa-bolt's null string.
	hm := AppendHeader(nil, "k", "v")
	hm = append(hm, 0, 0, 0, 1, 'n', 0xff, 0xff, 0xff, 0xff)
	var got []string
	require.NoError(t, RangeHeaders(hm, func(k, v []byte) bool { got = append(got, string(k)+"="+string(v)); return true }))
	assert.Equal(t, []string{"k=v", "n="}, got)
}

func TestSetRequestID(t *testing.T) {
	for _, name := range []string{"v1_request_echo", "v2_request_echo"} {
		b, _ := fixture(t, "../../examples/bolt/fixtures/"+name+".hex")
		SetRequestID(b, b[0], 0xdeadbeef)
		h, err := Peek(b, 0)
		require.NoError(t, err)
		assert.Equal(t, uint32(0xdeadbeef), h.RequestID, name)
	}
}

// FuzzPeek: any bytes give a header, "need more" or an error; a header's
// frame length is never below its fixed size and Split stays in bounds.
func FuzzPeek(f *testing.F) {
	files, _ := filepath.Glob("../../examples/bolt/fixtures/*.hex")
	for _, p := range files {
		b, _ := fixture(f, p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Peek(b, 1<<20)
		if err != nil || h == nil {
			return
		}
		if h.FrameLen < h.Len {
			t.Fatalf("frame length %d below the fixed header %d", h.FrameLen, h.Len)
		}
		if len(b) >= h.FrameLen {
			p := Split(h, b[:h.FrameLen])
			_ = RangeHeaders(p.Headers, func(k, v []byte) bool { return true })
		}
	})
}
