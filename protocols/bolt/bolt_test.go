package bolt

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"

	"github.com/meshproto/meshproto/internal/boltwire"
	"github.com/meshproto/meshproto/internal/sofarpc"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

const fixtureDir = "../../examples/bolt/fixtures"

func load(t testing.TB, name string) []byte {
	return kittest.LoadHex(t, filepath.Join(fixtureDir, name+".hex"))
}

func decode(t *testing.T, b []byte) *kit.Frame {
	t.Helper()
	fs, err, left := kittest.DecodeAll(NewXCodec(), b, 0)
	require.NoError(t, err)
	require.Zero(t, left)
	require.Len(t, fs, 1)
	return fs[0]
}

const echo = "org.meshproto.demo.BoltEcho"

// TestCapturedFrames: every frame sofa-rpc-node sent or answered decodes
// to what the capture says, and is forwarded byte for byte.
func TestCapturedFrames(t *testing.T) {
	tests := []struct {
		name    string
		kind    kit.Kind
		method  string
		status  uint32
		headers map[string]string
	}{
		{"v1_heartbeat_request", kit.KindHeartbeat, "", 0, nil},
		{"v1_heartbeat_response", kit.KindHeartbeatReply, "", 0, nil},
		{"v1_request_echo", kit.KindRequest, "echo", 0, map[string]string{"service": echo + ":1.0.0"}},
		{"v1_request_echo_props", kit.KindRequest, "echo", 0, map[string]string{"traceid": "abc123", "tenant": "meshproto", "service": echo + ":1.0.0"}},
		{"v1_request_fail", kit.KindRequest, "fail", 0, nil},
		{"v1_request_large_100k", kit.KindRequest, "echo", 0, nil},
		{"v1_request_late", kit.KindRequest, "sleep", 0, nil},
		{"v1_request_oneway", kit.KindOneway, "echo", 0, nil},
		{"v1_request_props_method", kit.KindRequest, "props", 0, map[string]string{"traceid": "abc123", "tenant": "meshproto"}},
		{"v1_request_timeout", kit.KindRequest, "sleep", 0, nil},
		{"v1_response_error_fail", kit.KindResponse, "", 2, nil},
		{"v1_response_error_unknown_method", kit.KindResponse, "", 2, nil},
		{"v1_response_error_unknown_service", kit.KindResponse, "", 2, nil},
		{"v1_response_large_100k", kit.KindResponse, "", 0, nil},
		{"v1_response_late", kit.KindResponse, "", 0, nil},
		{"v1_response_ok", kit.KindResponse, "", 0, nil},
		{"v1_response_props_map", kit.KindResponse, "", 0, nil},
		{"v1_response_to_oneway", kit.KindResponse, "", 0, nil},
		{"v1h4_request_echo", kit.KindRequest, "echo", 0, nil},
		{"v1h4_request_props_method", kit.KindRequest, "props", 0, map[string]string{"traceid": "abc123", "tenant": "meshproto"}},
		{"v1h4_response_error_fail", kit.KindResponse, "", 2, nil},
		{"v1h4_response_ok", kit.KindResponse, "", 0, nil},
		{"v1h4_response_props_map", kit.KindResponse, "", 0, nil},
		{"v2_crc_request_echo", kit.KindRequest, "echo", 0, nil},
		{"v2_crc_response_ok", kit.KindResponse, "", 0, nil},
		{"v2_request_echo", kit.KindRequest, "echo", 0, nil},
		{"v2_response_ok", kit.KindResponse, "", 0, nil},
	}
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.hex"))
	require.Len(t, files, len(tests), "one case per fixture")
	c := NewXCodec()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := load(t, tc.name)
			f := kittest.RoundTrip(t, c, b)[0]
			assert.Equal(t, tc.kind, f.Kind)
			assert.Equal(t, tc.status, f.Status)
			assert.Equal(t, tc.status == 0, f.Succeeded())
			assert.Equal(t, tc.method, f.Method())
			if tc.kind == kit.KindRequest || tc.kind == kit.KindOneway {
				assert.Equal(t, echo, f.Service())
				assert.Equal(t, "1.0.0", f.Version())
				v, _ := f.Get(rpcmeta.KeyService)
				assert.Equal(t, echo, v)
				v, _ = f.Get("method") // MOSN's stock key
				assert.Equal(t, tc.method, v)
				kittest.Renumber(t, c, f, 0xfedcba98)
				g := kittest.SetAndDelete(t, c, f)
				assert.Equal(t, tc.method, g.Method())
			}
			for k, v := range tc.headers {
				got, ok := f.Get(k)
				assert.True(t, ok, k)
				assert.Equal(t, v, got, k)
			}
			if f.IsHeartbeatFrame() {
				assert.Equal(t, api.Request == f.GetStreamType(), tc.kind == kit.KindHeartbeat)
			}
		})
	}
}

func TestPipelinedStreams(t *testing.T) {
	c := NewXCodec()
	reqs := kittest.RoundTrip(t, c, kittest.LoadHex(t, filepath.Join(fixtureDir, "streams/v1_pipelined_5_requests.hex")))
	resps := kittest.RoundTrip(t, c, kittest.LoadHex(t, filepath.Join(fixtureDir, "streams/v1_pipelined_5_responses.hex")))
	require.Len(t, reqs, 5)
	require.Len(t, resps, 5)
	ids := map[uint64]bool{}
	for _, r := range reqs {
		ids[r.ID] = true
	}
	for _, r := range resps {
		assert.True(t, ids[r.ID], "response %d answers a request", r.ID)
	}
}

// TestPropsWrittenBack: a filter's change to a request prop lands in the
// SofaRequest content (where the server reads it), in either dialect, and
// a header-map entry stays in the header map.
func TestPropsWrittenBack(t *testing.T) {
	c := NewXCodec()
	for _, name := range []string{"v1_request_echo_props", "v1h4_request_props_method", "v2_crc_request_echo"} {
		t.Run(name, func(t *testing.T) {
			f := decode(t, load(t, name))
			f.Set("tenant", "other")
			f.Set("x-tag", "gray")
			f.Set("service", f.Service()+":1.0.0") // unchanged value: no rewrite of the map
			out, err := kittest.Encode(c, f)
			require.NoError(t, err)
			var h boltwire.Header
			ok, err := h.Read(out, 0)
			require.True(t, ok)
			require.NoError(t, err)
			parts := boltwire.Split(&h, out)
			var props = map[string]string{}
			_, err = sofarpc.Parse(parts.Content, func(p sofarpc.Prop) error { props[p.Key] = p.Value; return nil })
			require.NoError(t, err)
			assert.Equal(t, "gray", props["x-tag"])
			if name != "v2_crc_request_echo" {
				assert.Equal(t, "other", props["tenant"])
				assert.Equal(t, "abc123", props["traceid"])
			}
			assert.NotContains(t, string(parts.Headers), "x-tag")
			if h.Proto == boltwire.ProtoV2 && h.Switch&1 != 0 {
				n := len(out) - 4
				assert.Equal(t, crc32.ChecksumIEEE(out[:n]), binary.BigEndian.Uint32(out[n:]), "CRC recomputed")
			}
			g := decode(t, out)
			v, _ := g.Get("x-tag")
			assert.Equal(t, "gray", v)
			assert.Equal(t, f.Method(), g.Method())
			// The arguments behind the props are untouched.
			assert.True(t, strings.HasSuffix(string(parts.Content), string(f.Raw[f.Marks[markContent]+f.Marks[markPropsEnd]:f.Marks[markContentEnd]])))
		})
	}
}

// TestLocalReplies: heartbeat acks and error replies are frames a Bolt
// client reads: the request's version, id and codec, the status asked for,
// and an RpcServerException carrying the message in the request's dialect.
func TestLocalReplies(t *testing.T) {
	c := NewXCodec()
	p := c.NewXProtocol(context.Background())
	hb := decode(t, load(t, "v1_heartbeat_request"))
	ack := p.Reply(context.Background(), hb).(*kit.Frame)
	assert.Equal(t, string(load(t, "v1_heartbeat_response")), string(ack.Raw), "the ack is what sofa-rpc-node's server sends")
	trig := p.Trigger(context.Background(), 7).(*kit.Frame)
	assert.Equal(t, kit.KindHeartbeat, trig.Kind)
	assert.Equal(t, uint64(7), trig.ID)

	for _, name := range []string{"v1_request_echo", "v1h4_request_echo", "v2_crc_request_echo"} {
		req := decode(t, load(t, name))
		r := p.Hijack(context.Background(), req, uint32(boltwire.StatusNoProcessor)).(*kit.Frame)
		assert.Equal(t, kit.KindResponse, r.Kind)
		assert.Equal(t, req.ID, r.ID)
		assert.Equal(t, uint32(boltwire.StatusNoProcessor), r.Status)
		assert.Equal(t, req.Raw[0], r.Raw[0], "same Bolt version")
		g := decode(t, r.Raw)
		assert.Equal(t, r.Status, g.Status)
		assert.Contains(t, string(g.Body()), "meshproto: ", name)
		assert.Contains(t, string(g.Body()), "RpcServerException", name)
		if sofarpc.DialectOf(req.Body()) == sofarpc.V2 {
			assert.Equal(t, byte('C'), g.Body()[0])
		} else {
			assert.Equal(t, byte('O'), g.Body()[0])
		}
	}
	assert.Equal(t, uint32(boltwire.StatusNoProcessor), p.Mapping(uint32(api.RouterUnavailableCode)))
	assert.Equal(t, uint32(boltwire.StatusTimeout), p.Mapping(uint32(api.TimeoutExceptionCode)))
	assert.Equal(t, uint32(boltwire.StatusServerThreadpool), p.Mapping(429))
}

// TestBadInput: what closes the connection, and what is one bad request
// answered with an error.
func TestBadInput(t *testing.T) {
	echoReq := load(t, "v1_request_echo")
	edit := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), echoReq...)) }
	content := 22 + 44 + 48
	tests := []kittest.BadInput{
		{Name: "unknown protocol byte", B: edit(func(b []byte) []byte { b[0] = 5; return b }), ConnError: true},
		{Name: "unknown type", B: edit(func(b []byte) []byte { b[1] = 7; return b }), ConnError: true},
		{Name: "unknown command", B: edit(func(b []byte) []byte { b[3] = 9; return b }), ConnError: true},
		{Name: "over max_frame_bytes", B: edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[18:], 1<<30); return b }), ConnError: true},
		{Name: "header map length past its end", B: edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[66:], 1000); return b }), ConnError: false},
		{Name: "garbage content", B: edit(func(b []byte) []byte {
			for i := content; i < len(b); i++ {
				b[i] = 0xff
			}
			return b
		}), ConnError: false},
		{Name: "content cut short", B: edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[18:], 40)
			return b[:content+40]
		}), ConnError: false},
		{Name: "unknown serialization", B: edit(func(b []byte) []byte { b[9] = 7; return b }), ConnError: false},
		// Well-formed hessian that sofa-rpc-node's server fails on, closing
		// the (shared) connection: refused at the proxy.
		{Name: "Bolt class not SofaRequest", B: edit(func(b []byte) []byte { b[22+4] = 'X'; return b }), ConnError: false},
		{Name: "content class not SofaRequest", B: edit(func(b []byte) []byte {
			i := content + 2 + strings.Index(string(b[content:]), "core.request") - 1
			b[i] = 0x80
			return b
		}), ConnError: false},
		{Name: "SofaRequest field SOFARPC lacks", B: edit(func(b []byte) []byte {
			i := strings.Index(string(b), "targetServiceUniqueName")
			b[i+1] = 'q'
			return b
		}), ConnError: false},
		// Found by the differential check against sofa-bolt-node's decoder
		// (examples/bolt/tools/check-decode.js): hessian our walker
		// read but sofa-rpc-node's server fails on.
		{Name: "draft methodArgSigs list without a length", B: func() []byte {
			b := append([]byte(nil), load(t, "v1_request_props_method")...)
			i := strings.Index(string(b), "\x56\x74\x00\x11[java")
			b[i+3] = 0x13 // the type swallows the 'n' 0 length
			return b
		}(), ConnError: false},
		{Name: "Hessian 2.0 methodArgSigs not a list", B: func() []byte {
			b := append([]byte(nil), load(t, "v1h4_request_props_method")...)
			i := strings.Index(string(b), "\x70\x11[java")
			b[i] = 0x30 // a string of the same bytes
			return b
		}(), ConnError: false},
		// Java's hessian and hessian.js read 1-3 byte UTF-8 sequences only
		// and fail the stream on a 4-byte lead byte.
		{Name: "draft string with a 4-byte UTF-8 lead byte", B: edit(func(b []byte) []byte {
			i := strings.Index(string(b), "hello")
			b[i-1], b[i] = 3, 0xf4 // "\xf4ell" is two UTF-16 units to our walker, then "o"
			return b
		}), ConnError: false},
		{Name: "Hessian 2.0 string with a 4-byte UTF-8 lead byte", B: func() []byte {
			b := append([]byte(nil), load(t, "v1h4_request_props_method")...)
			i := strings.Index(string(b), "tenant")
			b[i-1], b[i] = 4, 0xf4 // "\xf4ena" is two units, then "nt"
			return b
		}(), ConnError: false},
		// sofa-rpc-node's server caches class definitions per connection
		// by name and field count: sent first on a shared connection, this
		// one would make it misread every later client's request.
		{Name: "SofaRequest fields reordered", B: edit(func(b []byte) []byte {
			i, j := strings.Index(string(b), "\x0dmethodArgSigs"), strings.Index(string(b), "\x0dtargetAppName")
			sigs := append([]byte(nil), b[i:i+14]...)
			copy(b[i:], b[j:j+14])
			copy(b[j:], sigs)
			return b
		}), ConnError: false},
		{Name: "fewer arguments than methodArgSigs", B: edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[18:], binary.BigEndian.Uint32(b[18:])-6)
			return b[:len(b)-6] // without its "hello"
		}), ConnError: false},
		{Name: "more arguments than methodArgSigs", B: edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[18:], binary.BigEndian.Uint32(b[18:])+1)
			return append(b, 0x90) // one more: int 0
		}), ConnError: false},
		{Name: "malformed oneway", B: edit(func(b []byte) []byte {
			b[1] = boltwire.TypeOneway
			for i := content; i < len(b); i++ {
				b[i] = 0xff
			}
			return b
		}), ConnError: true},
	}
	replies := kittest.CheckBadInput(t, NewXCodec(), tests, uint32(boltwire.StatusServerDeserialException))
	for name, r := range replies {
		assert.Contains(t, string(r.Raw), "bad request", name)
	}
}

func TestGenerateRequestIDFits32Bits(t *testing.T) {
	p := NewXCodec().NewXProtocol(context.Background())
	base := uint64(1<<32 - 2)
	assert.Equal(t, uint64(1<<32-1), p.GenerateRequestID(&base))
	assert.Equal(t, uint64(1), p.GenerateRequestID(&base), "wraps past 0")
}

func TestConfig(t *testing.T) {
	c := NewXCodec()
	assert.Equal(t, "meshproto_bolt", c.ExtendType())
	require.NoError(t, c.ConfigureJSON([]byte(`{"max_frame_bytes": 4096, "upstream_connections": "per_client", "coalesce_writes": false}`)))
	on, _ := c.WriteCoalescing()
	assert.False(t, on)
	assert.Equal(t, api.TCP, c.NewXProtocol(context.Background()).PoolMode())
	fs, err, _ := kittest.DecodeAll(c, load(t, "v1_request_large_100k"), 0)
	assert.Empty(t, fs)
	assert.True(t, kittest.IsConnError(err))
	for _, bad := range []string{`{"max_frame_bytes": 3}`, `{"upstream_connections": "x"}`, `{"stall_timeout": "soon"}`, `{"no_such": 1}`} {
		err := c.ConfigureJSON([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.hex"))
	for _, path := range files {
		f.Add(kittest.LoadHex(f, path), 0)
	}
	c := NewXCodec()
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		kittest.Fuzz(t, c, b, chunk%64)
	})
}

// TestV2IntegrityChecks: Encode writes a fresh CRC, so a v2 frame whose
// CRC does not match, or whose switch has undefined bits, closes the
// connection instead of being forwarded as valid.
func TestV2IntegrityChecks(t *testing.T) {
	good := load(t, "v2_crc_request_echo")
	for name, edit := range map[string]func(b []byte){
		"CRC mismatch":         func(b []byte) { b[len(b)-10] ^= 0x20 },
		"undefined switch bit": func(b []byte) { b[11] = 0x03 },
	} {
		t.Run(name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			edit(b)
			_, err, _ := kittest.DecodeAll(NewXCodec(), b, 0)
			require.Error(t, err)
			assert.True(t, kittest.IsConnError(err), "%v", err)
		})
	}
}
