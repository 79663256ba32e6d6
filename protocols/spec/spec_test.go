package spec

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	mosnbolt "mosn.io/mosn/pkg/protocol/xprotocol/bolt"
	"mosn.io/pkg/buffer"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/bolt"
	"github.com/meshproto/meshproto/protocols/kit"
	"github.com/meshproto/meshproto/protocols/kit/kittest"
)

const (
	boltFixtures = "../../examples/bolt/fixtures"
	acmeFixtures = "../../examples/acme/fixtures"
	specDir      = "../../configs/specs"
)

func loadSpec(t testing.TB, name string) *Wire {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(specDir, name+".json"))
	require.NoError(t, err)
	w, err := Parse(raw)
	require.NoError(t, err)
	return w
}

// TestBoltSpecReadsWhatTheGoCodecReads: every Bolt v1 frame sofa-rpc-node
// sent or answered reads the same through the spec as through
// protocols/bolt (as far as the Bolt header goes: the spec does not read
// the hessian content), and is forwarded byte for byte. Bolt v2 is not in
// the spec (its CRC is not declarative): those frames close the connection.
func TestBoltSpecReadsWhatTheGoCodecReads(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(boltFixtures, "*.hex"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sc, gc := loadSpec(t, "bolt").NewXCodec(), bolt.NewXCodec()
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".hex")
		t.Run(name, func(t *testing.T) {
			b := kittest.LoadHex(t, path)
			if strings.HasPrefix(name, "v2") {
				_, err, _ := kittest.DecodeAll(sc, b, 0)
				assert.True(t, kittest.IsConnError(err), "%v", err)
				return
			}
			f := kittest.RoundTrip(t, sc, b)[0]
			g, err, _ := kittest.DecodeAll(gc, b, 0)
			require.NoError(t, err)
			want := g[0]
			assert.Equal(t, want.Kind, f.Kind)
			assert.Equal(t, want.ID, f.ID)
			assert.Equal(t, want.Status, f.Status)
			assert.Equal(t, want.Succeeded(), f.Succeeded())
			assert.Equal(t, want.Timeout, f.Timeout)
			assert.Equal(t, want.IsHeartbeatFrame(), f.IsHeartbeatFrame())
			assert.Equal(t, want.GetStreamType(), f.GetStreamType())
			if f.Kind == kit.KindRequest || f.Kind == kit.KindOneway {
				assert.Equal(t, "org.meshproto.demo.BoltEcho", f.Service())
				assert.Equal(t, want.Version(), f.Version())
				v, _ := f.Get("service")
				assert.Equal(t, "org.meshproto.demo.BoltEcho:1.0.0", v)
				assert.Equal(t, want.Body(), f.Body(), "the body is the content")
				kittest.Renumber(t, sc, f, 0xfedcba98)
				kittest.SetAndDelete(t, sc, f)
			}
		})
	}
	for _, stream := range []string{"v1_pipelined_5_requests", "v1_pipelined_5_responses"} {
		fs := kittest.RoundTrip(t, sc, kittest.LoadHex(t, filepath.Join(boltFixtures, "streams", stream+".hex")))
		assert.Len(t, fs, 5, stream)
	}
}

// acme builds a frame of configs/specs/acme.json.
func acme(kind byte, id uint32, status uint16, service, method string, headers [][2]string, body string) []byte {
	b := []byte{'A', 'C', 1, kind}
	b = binary.LittleEndian.AppendUint32(b, id)
	b = binary.LittleEndian.AppendUint16(b, status)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = append(b, 0, 0, 0, 0)
	b = append(append(b, byte(len(service))), service...)
	b = append(append(b, byte(len(method))), method...)
	var h []byte
	for _, kv := range headers {
		h = append(append(h, byte(len(kv[0]))), kv[0]...)
		h = append(binary.LittleEndian.AppendUint16(h, uint16(len(kv[1]))), kv[1]...)
	}
	b = append(binary.LittleEndian.AppendUint16(b, uint16(len(h))), h...)
	b = append(b, body...)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)-16))
	return b
}

// TestAcmeFrames: every frame kind of the example protocol, from the
// fixtures the Python peer wrote (examples/acme/fixtures).
func TestAcmeFrames(t *testing.T) {
	tests := []struct {
		name                    string
		kind                    kit.Kind
		id                      uint64
		status                  uint32
		service, version, group string
		method                  string
		headers                 map[string]string
	}{
		{"request", kit.KindRequest, 1, 0, "acme.Echo", "1.0", "", "echo", map[string]string{"tenant": "t1"}},
		{"request_group", kit.KindRequest, 2, 0, "acme.Echo", "2.0", "blue", "echo", nil},
		{"oneway", kit.KindOneway, 3, 0, "acme.Echo", "1.0", "", "log", nil},
		{"response", kit.KindResponse, 1, 0, "", "", "", "", map[string]string{"served-by": "s1"}},
		{"response_error", kit.KindResponse, 4, 1, "", "", "", "", map[string]string{"error": "it failed"}},
		{"ping", kit.KindHeartbeat, 5, 0, "", "", "", "", nil},
		{"pong", kit.KindHeartbeatReply, 5, 0, "", "", "", "", nil},
	}
	c := loadSpec(t, "acme").NewXCodec()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := kittest.LoadHex(t, filepath.Join(acmeFixtures, tc.name+".hex"))
			f := kittest.RoundTrip(t, c, b)[0]
			assert.Equal(t, tc.kind, f.Kind)
			assert.Equal(t, tc.id, f.ID)
			assert.Equal(t, tc.status, f.Status)
			assert.Equal(t, tc.status == 0, f.Succeeded())
			assert.Equal(t, tc.service, f.Service())
			assert.Equal(t, tc.version, f.Version())
			assert.Equal(t, tc.group, f.Group())
			assert.Equal(t, tc.method, f.Method())
			for k, v := range tc.headers {
				got, _ := f.Get(k)
				assert.Equal(t, v, got, k)
			}
			if tc.kind.IsRequest() && tc.kind != kit.KindHeartbeat {
				kittest.Renumber(t, c, f, 0xfffffffe)
				g := kittest.SetAndDelete(t, c, f)
				assert.Equal(t, f.Body(), g.Body())
			}
		})
	}
	stream := kittest.LoadHex(t, filepath.Join(acmeFixtures, "stream_3_requests.hex"))
	assert.Len(t, kittest.RoundTrip(t, c, stream), 3)
}

// TestReplies: the proxy's error reply, heartbeat and heartbeat reply are
// the protocol's own frames, in the request's Bolt version fields.
func TestReplies(t *testing.T) {
	for _, name := range []string{"bolt", "acme"} {
		t.Run(name, func(t *testing.T) {
			w := loadSpec(t, name)
			c := w.NewXCodec()
			var req []byte
			if name == "bolt" {
				req = kittest.LoadHex(t, filepath.Join(boltFixtures, "v1_request_echo.hex"))
			} else {
				req = acme(0, 9, 0, "acme.Echo:1.0", "echo", nil, "hi")
			}
			fs, err, _ := kittest.DecodeAll(c, req, 0)
			require.NoError(t, err)
			p := c.NewXProtocol(context.Background())
			r := p.Hijack(context.Background(), fs[0], p.Mapping(uint32(api.RouterUnavailableCode))).(*kit.Frame)
			got, err, _ := kittest.DecodeAll(c, r.Raw, 0)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, kit.KindResponse, got[0].Kind)
			assert.Equal(t, fs[0].ID, got[0].ID)
			assert.Equal(t, w.proxy["no_route"], got[0].Status)
			assert.False(t, got[0].Succeeded())
			msg, _ := got[0].Get(map[string]string{"bolt": "meshproto-error", "acme": "error"}[name])
			assert.Contains(t, msg, "meshproto:", "the proxy's message")
			hb := p.Trigger(context.Background(), 77).(*kit.Frame)
			assert.Equal(t, kit.KindHeartbeat, hb.Kind)
			assert.Equal(t, uint64(77), hb.ID)
			ack := p.Reply(context.Background(), hb).(*kit.Frame)
			assert.Equal(t, kit.KindHeartbeatReply, ack.Kind)
			assert.Equal(t, uint64(77), ack.ID)
			assert.Equal(t, w.ok, ack.Status)
		})
	}
	// The Bolt heartbeat ack is what a Bolt server sends.
	w := loadSpec(t, "bolt")
	c := w.NewXCodec()
	hb, err, _ := kittest.DecodeAll(c, kittest.LoadHex(t, filepath.Join(boltFixtures, "v1_heartbeat_request.hex")), 0)
	require.NoError(t, err)
	ack := c.NewXProtocol(context.Background()).Reply(context.Background(), hb[0]).(*kit.Frame)
	assert.Equal(t, kittest.LoadHex(t, filepath.Join(boltFixtures, "v1_heartbeat_response.hex")), ack.Raw)
}

// TestBadInput: what closes the connection, and what is one bad request
// answered with the spec's bad-request status.
func TestBadInput(t *testing.T) {
	good := acme(0, 1, 0, "acme.Echo:1.0", "echo", [][2]string{{"k", "v"}}, "body")
	edit := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }
	tests := []kittest.BadInput{
		{Name: "bad magic", B: edit(func(b []byte) []byte { b[1] = 'X'; return b }), ConnError: true},
		{Name: "unknown kind", B: edit(func(b []byte) []byte { b[3] = 9; return b }), ConnError: true},
		{Name: "over max_frame_bytes", B: edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<30); return b }), ConnError: true},
		{Name: "2 GiB length", B: edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 1<<31); return b }), ConnError: true},
		{Name: "service prefix past the end", B: edit(func(b []byte) []byte { b[16] = 250; return b }), ConnError: false},
		{Name: "header list truncated", B: edit(func(b []byte) []byte {
			at := 16 + 1 + 13 + 1 + 4
			binary.LittleEndian.PutUint16(b[at:], 3)
			return b
		}), ConnError: false},
		{Name: "malformed oneway", B: edit(func(b []byte) []byte { b[3] = 1; b[16] = 250; return b }), ConnError: true},
		{Name: "service not UTF-8", B: edit(func(b []byte) []byte { b[18] = 0xff; return b }), ConnError: false},
		{Name: "header value not UTF-8", B: edit(func(b []byte) []byte { b[len(b)-5] = 0xc3; return b }), ConnError: false},
	}
	c := loadSpec(t, "acme").NewXCodec()
	kittest.CheckBadInput(t, c, tests, 5) // the spec's bad_request
	// A frame shorter than its fixed header by its own length field.
	short := edit(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[12:], 0); return b[:16] })
	fs, err, _ := kittest.DecodeAll(c, short, 0)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	assert.Error(t, fs[0].DecodeError(), "no room for the sections")
}

// TestValidation: a wrong spec is refused at load with an error naming
// the spec field.
func TestValidation(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(specDir, "acme.json"))
	require.NoError(t, err)
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"compiled name", func(m map[string]any) { m["name"] = "dubbo" }, "name: \"dubbo\" is a compiled codec"},
		{"bad name", func(m map[string]any) { m["name"] = "Acme!" }, "name:"},
		{"byte order", func(m map[string]any) { m["byte_order"] = "middle" }, "byte_order"},
		{"field outside header", func(m map[string]any) { fieldOf(m, 6)["offset"] = 14 }, "fields[6]: bytes 14..18 are outside the 16-byte request header"},
		{"odd size", func(m map[string]any) { fieldOf(m, 4)["size"] = 3 }, "fields[4].size"},
		{"duplicate field", func(m map[string]any) { fieldOf(m, 5)["name"] = "status" }, "fields[5].name: \"status\" defined twice"},
		{"unknown kind field", func(m map[string]any) { m["kind"].(map[string]any)["field"] = "nope" }, "kind.field"},
		{"kind value twice", func(m map[string]any) { m["kind"].(map[string]any)["oneway"] = []any{0} }, "kind.oneway: value 0 already means another kind"},
		{"no length", func(m map[string]any) { m["length"].(map[string]any)["fields"] = []any{} }, "length.fields"},
		{"two totals", func(m map[string]any) {
			m["length"].(map[string]any)["fields"] = []any{"length", "status"}
		}, "length.fields: \"length\" and \"status\""},
		{"magic outside", func(m map[string]any) { m["magic"].(map[string]any)["offset"] = 15 }, "magic"},
		{"section two ways", func(m map[string]any) { sectionOf(m, 0)["rest"] = true }, "sections[0]: needs exactly one of length, prefix, rest"},
		{"after rest", func(m map[string]any) {
			m["sections"] = append(m["sections"].([]any), map[string]any{"name": "extra", "prefix": 1})
		}, "sections[4]: follows a rest section"},
		{"kv without sizes", func(m map[string]any) { delete(sectionOf(m, 2), "kv") }, "sections[2].kv"},
		{"no service", func(m map[string]any) { m["metadata"].(map[string]any)["service"] = map[string]any{} }, "metadata.service"},
		{"service from bytes", func(m map[string]any) {
			m["metadata"].(map[string]any)["service"] = map[string]any{"section": "body"}
		}, "metadata.service.section"},
		{"no error reply", func(m map[string]any) { delete(m["replies"].(map[string]any), "error") }, "replies.error"},
		{"reply without kind", func(m map[string]any) {
			delete(m["replies"].(map[string]any)["error"].(map[string]any)["fields"].(map[string]any), "kind")
		}, "replies.error.fields: must set the kind field"},
		{"reply of the wrong kind", func(m map[string]any) {
			m["replies"].(map[string]any)["heartbeat"].(map[string]any)["fields"].(map[string]any)["kind"] = 0
		}, "replies.heartbeat: the frame it builds does not parse as a heartbeat"},
		{"proxy status unknown", func(m map[string]any) { delete(m["status"].(map[string]any)["proxy"].(map[string]any), "unknown") }, "status.proxy.unknown"},
		{"proxy status misspelt", func(m map[string]any) { m["status"].(map[string]any)["proxy"].(map[string]any)["noroute"] = 2 }, "status.proxy.noroute"},
		{"misspelt key", func(m map[string]any) { m["requestid"] = "id" }, "unknown field \"requestid\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal(raw, &m))
			tc.edit(m)
			b, err := json.Marshal(m)
			require.NoError(t, err)
			_, err = Parse(b)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), "frame spec")
		})
	}
}

func fieldOf(m map[string]any, i int) map[string]any { return m["fields"].([]any)[i].(map[string]any) }
func sectionOf(m map[string]any, i int) map[string]any {
	return m["sections"].([]any)[i].(map[string]any)
}

func TestFromExtends(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(specDir, "acme.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acme.json"), raw, 0o644))
	cfg := []byte(`{"extends": [{"type": "meshproto_spec", "config": {"protocols": [{"file": "acme.json"}, {"spec": ` +
		strings.Replace(string(raw), `"name": "acme"`, `"name": "acme2"`, 1) + `}]}}]}`)
	path := filepath.Join(dir, "mosn.json")
	require.NoError(t, os.WriteFile(path, cfg, 0o644))
	ws, err := FromConfigFile(path)
	require.NoError(t, err)
	require.Len(t, ws, 2)
	assert.Equal(t, api.ProtocolName("acme"), ws[0].Info().Name)
	assert.Equal(t, "meshproto_acme2", ws[1].NewXCodec().ExtendType())

	for _, bad := range []string{
		`{"protocols": [{"file": "missing.json"}]}`,
		`{"protocols": [{}]}`,
		`{"protocols": [{"file": "acme.json"}, {"file": "acme.json"}]}`,
		`{"protocol": []}`,
	} {
		_, err := FromConfigFile(writeCfg(t, dir, bad))
		assert.Error(t, err, bad)
	}
}

func writeCfg(t *testing.T, dir, ext string) string {
	path := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"extends": [{"type": "meshproto_spec", "config": `+ext+`}]}`), 0o644))
	return path
}

func TestIDWidthAndConfig(t *testing.T) {
	c := loadSpec(t, "acme").NewXCodec()
	p := c.NewXProtocol(context.Background())
	base := uint64(1<<32 - 1)
	assert.Equal(t, uint64(1), p.GenerateRequestID(&base), "a 4-byte id wraps past 0")
	require.NoError(t, c.ConfigureJSON([]byte(`{"max_frame_bytes": 64}`)))
	_, err, _ := kittest.DecodeAll(c, acme(0, 1, 0, "s", "m", nil, strings.Repeat("x", 100)), 0)
	assert.True(t, kittest.IsConnError(err))
	assert.Equal(t, api.MatchSuccess, c.ProtocolMatch()([]byte("AC")))
	assert.Equal(t, api.MatchAgain, c.ProtocolMatch()([]byte("A")))
	assert.Equal(t, api.MatchFailed, c.ProtocolMatch()([]byte("AX")))
}

func FuzzDecode(f *testing.F) {
	for _, dir := range []string{boltFixtures, acmeFixtures} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.hex"))
		for _, path := range files {
			f.Add(kittest.LoadHex(f, path), 0, strings.Contains(dir, "acme"))
		}
	}
	bc, ac := loadSpec(f, "bolt").NewXCodec(), loadSpec(f, "acme").NewXCodec()
	f.Fuzz(func(t *testing.T, b []byte, chunk int, isAcme bool) {
		c := bc
		if isAcme {
			c = ac
		}
		kittest.Fuzz(t, c, b, chunk%64)
	})
}

// FuzzSpec: whatever the spec, loading it never panics; a spec that loads
// decodes any bytes without panicking.
func FuzzSpec(f *testing.F) {
	for _, name := range []string{"bolt", "acme"} {
		raw, err := os.ReadFile(filepath.Join(specDir, name+".json"))
		require.NoError(f, err)
		f.Add(raw, acme(0, 1, 0, "acme.Echo:1.0", "echo", [][2]string{{"a", "b"}}, "x"))
	}
	f.Fuzz(func(t *testing.T, spec, b []byte) {
		w, err := Parse(spec)
		if err != nil {
			return
		}
		kittest.Fuzz(t, w.NewXCodec(), b, 0)
	})
}

// BenchmarkBoltCodecs: the same sofa-rpc-node request decoded and
// forwarded, as MOSN's stream layer calls a codec (one XProtocol per
// connection, Decode from the read buffer, Encode to a new one), through
// MOSN's built-in bolt codec (the Bolt header and header map), meshproto's
// Go codec (also the SofaRequest's method and props, read in place) and
// the Bolt spec (header and header map): go test -bench BoltCodecs
// -benchmem ./protocols/spec/.
func BenchmarkBoltCodecs(b *testing.B) {
	frame := kittest.LoadHex(b, filepath.Join(boltFixtures, "v1_request_echo_props.hex"))
	for _, c := range []struct {
		name  string
		codec api.XProtocolCodec
	}{{"mosn-builtin", &mosnbolt.XCodec{}}, {"meshproto-go", bolt.NewXCodec()}, {"meshproto-spec", loadSpec(b, "bolt").NewXCodec()}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := variable.NewVariableContext(context.Background())
			p := c.codec.NewXProtocol(ctx)
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				buf := buffer.GetIoBuffer(len(frame))
				_ = buf.Append(frame)
				f, err := p.Decode(ctx, buf)
				if err != nil || f == nil {
					b.Fatal(err)
				}
				out, err := p.Encode(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				buffer.PutIoBuffer(out)
				buffer.PutIoBuffer(buf)
			}
		})
	}
}
