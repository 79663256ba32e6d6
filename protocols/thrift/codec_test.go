package thrift

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	_ "mosn.io/mosn/pkg/proxy" // registers the proxy variables Hijack reads
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/internal/thriftwire"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

func TestEveryCombinationAndMessageType(t *testing.T) {
	for _, c := range combos {
		for _, m := range []struct {
			name    string
			typ     uint8
			body    []byte
			stream  api.StreamType
			service string
			method  string
			status  uint32
		}{
			{"call", MessageCall, argsStruct(c.p), api.Request, "", "greet", 0},
			{"multiplexed call", MessageCall, argsStruct(c.p), api.Request, "Greeter", "greet", 0},
			{"oneway", MessageOneway, argsStruct(c.p), api.RequestOneWay, "", "notify", 0},
			{"reply", MessageReply, replyStruct(c.p, 0), api.Response, "", "greet", StatusSuccess},
			{"reply with declared exception", MessageReply, replyStruct(c.p, 1), api.Response, "", "greet", StatusDeclaredException},
			{"exception", MessageException, thriftwire.AppendApplicationException(c.p, nil, "no such method", ExcUnknownMethod), api.Response, "", "greet", StatusApplicationException},
		} {
			t.Run(c.String()+"/"+m.name, func(t *testing.T) {
				name := m.method
				if m.service != "" {
					name = m.service + ":" + m.method
				}
				raw := wrap(c.tr, c.p, 7, message(c.p, name, m.typ, 7, c.strict, m.body))
				f := decodeOne(t, raw)
				assert.Equal(t, c.tr, f.Transport())
				assert.Equal(t, c.p, f.Proto())
				assert.Equal(t, m.stream, f.GetStreamType())
				assert.Equal(t, uint64(7), f.GetRequestId())
				assert.Equal(t, m.method, f.Method())
				assert.Equal(t, name, f.Name())
				if m.stream != api.Response {
					assert.Equal(t, m.service, f.Service())
					svc, _ := f.Get(rpcmeta.KeyService)
					assert.Equal(t, m.service, svc)
				} else {
					assert.Equal(t, m.status, f.GetStatusCode())
					st, ok := f.Get(rpcmeta.KeyStatus)
					assert.True(t, ok)
					assert.Equal(t, strconv.Itoa(int(m.status)), st)
				}
				if m.typ == MessageException {
					assert.Equal(t, ExcUnknownMethod, f.ApplicationExceptionType())
				}
				// Forwarded byte for byte when nothing changed.
				assert.Equal(t, raw, encode(t, f))
			})
		}
	}
}

func TestSequenceIDRewrite(t *testing.T) {
	for _, c := range combos {
		for _, newID := range []uint64{8, 300, 0x7fffffff} {
			t.Run(c.String()+"/"+strconv.FormatUint(newID, 10), func(t *testing.T) {
				raw := wrap(c.tr, c.p, 7, message(c.p, "Greeter:greet", MessageCall, 7, c.strict, argsStruct(c.p)), "x-tag", "gray")
				f := decodeOne(t, raw)
				f.SetRequestId(newID)
				out := encode(t, f)
				g := decodeOne(t, out)
				assert.Equal(t, newID, g.GetRequestId())
				assert.Equal(t, "Greeter:greet", g.Name())
				assert.Equal(t, argsStruct(c.p), g.Message()[g.msg.BodyOff:], "the struct is forwarded untouched")
				if c.tr == Header {
					assert.Equal(t, uint32(newID), g.th.seq, "THeader sequence id follows the message's")
					v, _ := g.Get("x-tag")
					assert.Equal(t, "gray", v)
				}
			})
		}
	}
}

func TestTHeaderInfoHeaders(t *testing.T) {
	for _, p := range []thriftwire.Proto{thriftwire.Binary, thriftwire.Compact} {
		t.Run(p.String(), func(t *testing.T) {
			raw := wrap(Header, p, 7, message(p, "greet", MessageCall, 7, true, argsStruct(p)), "x-tag", "gray", "service", "Greeter", "tenant", "t1")
			f := decodeOne(t, raw)
			assert.Equal(t, "Greeter", f.Service(), "service from the THeader header")
			v, ok := f.Get("x-tag")
			assert.True(t, ok)
			assert.Equal(t, "gray", v)

			f.Set("x-tag", "blue")
			f.Set("x-added", "yes")
			f.Del("tenant")
			f.Set(rpcmeta.KeyService, "ignored")
			g := decodeOne(t, encode(t, f))
			got := map[string]string{}
			g.Range(func(k, v string) bool { got[k] = v; return true })
			assert.Equal(t, "blue", got["x-tag"])
			assert.Equal(t, "yes", got["x-added"])
			assert.Equal(t, "Greeter", got["service"])
			assert.NotContains(t, got, "tenant")
			assert.Equal(t, "Greeter", got[rpcmeta.KeyService])
			assert.Equal(t, argsStruct(p), g.Message()[g.msg.BodyOff:])
		})
	}
}

func TestHeadersAreIgnoredWithoutTHeader(t *testing.T) {
	f := decodeOne(t, wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", MessageCall, 1, true, argsStruct(thriftwire.Binary))))
	raw := append([]byte(nil), f.Raw()...)
	f.Set("x-tag", "gray")
	_, ok := f.Get("x-tag")
	assert.False(t, ok)
	assert.Equal(t, raw, encode(t, f))
}

func TestDefaultService(t *testing.T) {
	raw := wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", MessageCall, 1, true, argsStruct(thriftwire.Binary)))
	fs, err := decodeAll(t, raw, Config{DefaultService: "Greeter"})
	require.NoError(t, err)
	assert.Equal(t, "Greeter", fs[0].Service())
}

func TestPartialFramesWait(t *testing.T) {
	for _, c := range combos {
		t.Run(c.String(), func(t *testing.T) {
			raw := wrap(c.tr, c.p, 7, message(c.p, "greet", MessageCall, 7, c.strict, argsStruct(c.p)), "k", "v")
			p := NewProtocol(Config{})
			buf := buffer.NewIoBuffer(len(raw))
			for i := 0; i < len(raw); i++ {
				v, err := p.Decode(context.Background(), buf)
				require.NoError(t, err, "after %d bytes", i)
				require.Nil(t, v, "after %d bytes", i)
				require.NoError(t, buf.WriteByte(raw[i]))
			}
			v, err := p.Decode(context.Background(), buf)
			require.NoError(t, err)
			require.NotNil(t, v)
			assert.Zero(t, buf.Len())
		})
	}
}

func TestOneKindPerConnection(t *testing.T) {
	for i, first := range combos {
		for j, next := range combos {
			a := wrap(first.tr, first.p, 1, message(first.p, "greet", MessageCall, 1, first.strict, argsStruct(first.p)))
			b := wrap(next.tr, next.p, 2, message(next.p, "greet", MessageCall, 2, next.strict, argsStruct(next.p)))
			fs, err := decodeAll(t, append(append([]byte(nil), a...), b...), Config{})
			if first.tr == next.tr && first.p == next.p {
				require.NoError(t, err, "%s then %s", first, next)
				require.Len(t, fs, 2)
				continue
			}
			var ce *ConnError
			require.ErrorAs(t, err, &ce, "%s then %s (%d, %d)", first, next, i, j)
			assert.Contains(t, ce.Error(), "within a connection")
			require.Len(t, fs, 1, "the first frame was decoded")
		}
	}
}

func TestConnectionErrors(t *testing.T) {
	good := wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", MessageCall, 1, true, argsStruct(thriftwire.Binary)))
	badType := wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", 9, 1, true, argsStruct(thriftwire.Binary)))
	transforms := wrap(Header, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", MessageCall, 1, true, argsStruct(thriftwire.Binary)))
	transforms[15] = 1 // one transform (zlib) follows the protocol id
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"HTTP on a thrift port", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "over limit"},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xf0, 0x80, 0x01}, "neither a frame length"},
		{"binary version 2", []byte{0x80, 0x02, 0, 1}, "binary protocol version"},
		{"compact version 2", []byte{0x82, 0x22}, "compact protocol version"},
		{"unknown frame start", append(good[:4:4], 0x11, 0x22, 0x33, 0x44, 0x55), "unrecognised"},
		{"message type 9", badType, "invalid message type"},
		{"THeader transforms", transforms, "transforms"},
		{"unframed struct with a bad type", append(message(thriftwire.Binary, "greet", MessageCall, 1, true, nil), 0x11, 0, 1, 0), "unframed message"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := decodeAll(t, tc.raw, Config{})
			assert.Empty(t, fs)
			var ce *ConnError
			require.True(t, errors.As(err, &ce), "want ConnError, got %v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFrameLimit(t *testing.T) {
	raw := wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", MessageCall, 1, true, argsStruct(thriftwire.Binary)))
	_, err := decodeAll(t, raw, Config{MaxFrameBytes: len(raw) - 1})
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	fs, err := decodeAll(t, raw, Config{MaxFrameBytes: len(raw)})
	assert.NoError(t, err)
	assert.Len(t, fs, 1)
	// An unframed message that never ends is cut off at the limit.
	unframed := message(thriftwire.Binary, "greet", MessageCall, 1, true, []byte{11, 0, 1, 0, 0, 0x10, 0})
	_, err = decodeAll(t, append(unframed, make([]byte, 64)...), Config{MaxFrameBytes: 64})
	assert.ErrorIs(t, err, ErrFrameTooLarge)
}

func TestHijackInTheClientsOwnTransportAndProtocol(t *testing.T) {
	cases := []struct {
		mosnCode int
		excType  int32
		text     string
	}{
		{api.RouterUnavailableCode, ExcUnknownMethod, "no route"},
		{api.TimeoutExceptionCode, ExcInternalError, "timeout"},
		{api.NoHealthUpstreamCode, ExcInternalError, "no healthy upstream"},
		{api.CodecExceptionCode, ExcProtocolError, "bad request"},
	}
	for _, c := range combos {
		for _, tc := range cases {
			t.Run(c.String()+"/"+tc.text, func(t *testing.T) {
				req := decodeOne(t, wrap(c.tr, c.p, 77, message(c.p, "Greeter:greet", MessageCall, 77, c.strict, argsStruct(c.p)), "x-tag", "gray"))
				ctx := variable.NewVariableContext(context.Background())
				require.NoError(t, variable.SetString(ctx, types.VarHeaderStatus, strconv.Itoa(tc.mosnCode)))
				p := NewProtocol(Config{})
				resp := p.Hijack(ctx, req, p.Mapping(uint32(tc.mosnCode)))
				require.NotNil(t, resp)
				out := decodeOne(t, encode(t, resp))
				assert.Equal(t, c.tr, out.Transport())
				assert.Equal(t, c.p, out.Proto())
				if c.p == thriftwire.Binary {
					assert.Equal(t, c.strict, out.Strict(), "a non-strict client gets a non-strict reply")
				}
				assert.Equal(t, MessageException, out.MessageType())
				assert.Equal(t, "greet", out.Name(), "a multiplexed client expects the bare method name")
				assert.Equal(t, uint64(77), out.GetRequestId())
				assert.Equal(t, tc.excType, out.ApplicationExceptionType())
				assert.False(t, out.Succeeded())
			})
		}
	}
}

func TestStatusMapping(t *testing.T) {
	reply := func(fieldID int16) *Frame {
		return decodeOne(t, wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "m", MessageReply, 1, true, replyStruct(thriftwire.Binary, fieldID))))
	}
	exc := func(typ int32) *Frame {
		return decodeOne(t, wrap(Framed, thriftwire.Compact, 1, message(thriftwire.Compact, "m", MessageException, 1, true, thriftwire.AppendApplicationException(thriftwire.Compact, nil, "x", typ))))
	}
	m := StatusMapping{codec: &XCodec{}}
	cases := []struct {
		f    *Frame
		want int
	}{
		{reply(0), http.StatusOK},
		{reply(1), http.StatusOK},
		{exc(ExcUnknownMethod), http.StatusNotFound},
		{exc(ExcProtocolError), http.StatusBadRequest},
		{exc(ExcInternalError), http.StatusInternalServerError},
		{exc(ExcUnknown), http.StatusInternalServerError},
	}
	for i, tc := range cases {
		got, err := m.MappingHeaderStatusCode(context.Background(), tc.f)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "case %d", i)
	}
	strict := &XCodec{}
	require.NoError(t, strict.Configure(Config{DeclaredExceptionIsFailure: true}))
	got, err := StatusMapping{codec: strict}.MappingHeaderStatusCode(context.Background(), reply(2))
	require.NoError(t, err)
	assert.Equal(t, http.StatusInternalServerError, got)
	_, err = m.MappingHeaderStatusCode(context.Background(), nil)
	assert.Error(t, err)
}

func TestMatch(t *testing.T) {
	for _, c := range combos {
		raw := wrap(c.tr, c.p, 1, message(c.p, "greet", MessageCall, 1, c.strict, argsStruct(c.p)))
		assert.Equal(t, api.MatchSuccess, Match(raw), c.String())
	}
	assert.Equal(t, api.MatchAgain, Match([]byte{0x00}))
	assert.Equal(t, api.MatchFailed, Match([]byte{0xda, 0xbb, 0xc2, 0x02, 0, 0, 0, 0}), "dubbo is not thrift")
	assert.Equal(t, api.MatchFailed, Match([]byte("GET / HTTP/1.1\r\n")))
}

func TestConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"default_service": "Greeter", "transport": "framed", "protocol": "compact"}`))
	require.NoError(t, err)
	assert.Equal(t, DefaultServiceHeader, cfg.ServiceHeader)
	for _, bad := range []string{`{"transport": "http"}`, `{"protocol": "json"}`, `{"max_frame_bytes": 3}`, `{"max_depth": -1}`, `{"transport": 1}`} {
		_, err := ParseConfig([]byte(bad))
		assert.Error(t, err, bad)
	}
	// A forced combination skips detection.
	raw := wrap(Framed, thriftwire.Compact, 3, message(thriftwire.Compact, "greet", MessageCall, 3, true, argsStruct(thriftwire.Compact)))
	fs, err := decodeAll(t, raw, cfg)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), fs[0].GetRequestId())
}

func TestOnewayMethodsSentAsCall(t *testing.T) {
	// The Go library writes oneway calls as CALL.
	raw := wrap(Framed, thriftwire.Binary, 5, message(thriftwire.Binary, "Greeter:notify", MessageCall, 5, true, argsStruct(thriftwire.Binary)))
	fs, err := decodeAll(t, raw, Config{})
	require.NoError(t, err)
	assert.Equal(t, api.Request, fs[0].GetStreamType())
	for _, name := range []string{"notify", "Greeter:notify"} {
		fs, err = decodeAll(t, raw, Config{OnewayMethods: []string{name}})
		require.NoError(t, err)
		assert.Equal(t, api.RequestOneWay, fs[0].GetStreamType(), name)
		assert.Equal(t, MessageCall, fs[0].MessageType(), "the wire type is unchanged")
	}
	fs, err = decodeAll(t, raw, Config{OnewayMethods: []string{"Other:notify"}})
	require.NoError(t, err)
	assert.Equal(t, api.Request, fs[0].GetStreamType())
}

func TestRequestsChooseTheirKindsUpstreamPool(t *testing.T) {
	c := &XCodec{}
	kinds := c.KindCodecs()
	require.Len(t, kinds, 6)
	names := map[api.ProtocolName]bool{}
	for _, k := range kinds {
		names[k.ProtocolName()] = true
		assert.Equal(t, api.MatchFailed, k.ProtocolMatch()([]byte{0x80, 0x01, 0, 1}), "only \"thrift\" claims Auto connections")
		assert.Equal(t, k.ProtocolName(), k.NewXProtocol(context.Background()).Name())
	}
	for _, cb := range combos {
		raw := wrap(cb.tr, cb.p, 1, message(cb.p, "greet", MessageCall, 1, cb.strict, argsStruct(cb.p)))
		ctx := variable.NewVariableContext(context.Background())
		v, err := c.NewXProtocol(ctx).Decode(ctx, buffer.NewIoBufferBytes(raw))
		require.NoError(t, err)
		require.NotNil(t, v)
		up, err := variable.Get(ctx, types.VariableUpstreamProtocol)
		require.NoError(t, err, cb.String())
		assert.Equal(t, kindName(cb.tr, cb.p), up, cb.String())
		assert.True(t, names[up.(api.ProtocolName)])
	}
	// Replies choose nothing: they travel on the connection they came in on.
	ctx := variable.NewVariableContext(context.Background())
	raw := wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, "greet", MessageReply, 1, true, replyStruct(thriftwire.Binary, 0)))
	_, err := c.NewXProtocol(ctx).Decode(ctx, buffer.NewIoBufferBytes(raw))
	require.NoError(t, err)
	_, err = variable.Get(ctx, types.VariableUpstreamProtocol)
	assert.Error(t, err)
}

func TestHijackHonoursAFiltersLocalReply(t *testing.T) {
	p := NewProtocol(Config{})
	req := decodeOne(t, wrap(Header, thriftwire.Compact, 3, message(thriftwire.Compact, "Greeter:greet", MessageCall, 3, true, argsStruct(thriftwire.Compact))))
	ctx := variable.NewVariableContext(context.Background())
	require.NoError(t, rpcmeta.SetLocalReply(ctx, &rpcmeta.LocalReply{Native: uint32(ExcUnknownMethod), HasNative: true, Message: "denied"}))
	wire := encode(t, p.Hijack(ctx, req, p.Mapping(403)))
	out := decodeOne(t, wire)
	assert.Equal(t, ExcUnknownMethod, out.ApplicationExceptionType())
	assert.Equal(t, uint64(3), out.GetRequestId())
	assert.Equal(t, "greet", out.name, "the unprefixed method name a multiplexed client expects")
	// The message field carries the filter's text, not the proxy's default.
	assert.Contains(t, string(out.Message()), "denied")
	assert.NotContains(t, string(out.Message()), "meshproto:")

	// Without a local reply the message says what failed, for which call.
	plain := decodeOne(t, encode(t, p.Hijack(variable.NewVariableContext(context.Background()), req, p.Mapping(404))))
	assert.Contains(t, string(plain.Message()), `service "Greeter", method "greet"`)
}

func TestRequestsSetMOSNHostAndPath(t *testing.T) {
	cases := []struct {
		name, method  string
		cfg           Config
		host, path    string
		kind          byte
		setsVariables bool
	}{
		{"multiplexed call", "Calculator:add", Config{}, "Calculator", "/Calculator/add", MessageCall, true},
		{"oneway", "Greeter:notify", Config{}, "Greeter", "/Greeter/notify", MessageOneway, true},
		{"plain name with a default service", "greet", Config{DefaultService: "Greeter"}, "Greeter", "/Greeter/greet", MessageCall, true},
		{"reply sets nothing", "Greeter:greet", Config{}, "", "", MessageReply, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := argsStruct(thriftwire.Binary)
			if tc.kind == MessageReply {
				body = replyStruct(thriftwire.Binary, 0)
			}
			raw := wrap(Framed, thriftwire.Binary, 1, message(thriftwire.Binary, tc.method, tc.kind, 1, true, body))
			ctx := variable.NewVariableContext(context.Background())
			_, err := NewProtocol(tc.cfg).Decode(ctx, buffer.NewIoBufferBytes(raw))
			require.NoError(t, err)
			host, herr := variable.GetString(ctx, types.VarHost)
			path, perr := variable.GetString(ctx, types.VarPath)
			if !tc.setsVariables {
				assert.True(t, herr != nil || host == "")
				assert.True(t, perr != nil || path == "")
				return
			}
			require.NoError(t, herr)
			require.NoError(t, perr)
			assert.Equal(t, tc.host, host)
			assert.Equal(t, tc.path, path)
		})
	}
}

func TestUpstreamConnectionsPerKind(t *testing.T) {
	for _, tc := range []struct {
		setting  string
		unframed api.PoolMode
		framed   api.PoolMode
		parent   api.PoolMode
	}{
		{"", api.TCP, api.Multiplex, api.Multiplex},
		{UpstreamAuto, api.TCP, api.Multiplex, api.Multiplex},
		{UpstreamPerClient, api.TCP, api.TCP, api.TCP},
		{UpstreamShared, api.Multiplex, api.Multiplex, api.Multiplex},
	} {
		c := &XCodec{}
		require.NoError(t, c.Configure(Config{UpstreamConnections: tc.setting}), tc.setting)
		ctx := context.Background()
		assert.Equal(t, tc.parent, c.NewXProtocol(ctx).PoolMode(), "%q: thrift", tc.setting)
		for _, k := range c.KindCodecs() {
			want := tc.framed
			if k.(*kindCodec).transport == Unframed {
				want = tc.unframed
			}
			assert.Equal(t, want, k.NewXProtocol(ctx).PoolMode(), "%q: %s", tc.setting, k.ProtocolName())
		}
	}
	assert.ErrorContains(t, (&XCodec{}).Configure(Config{UpstreamConnections: "pooled"}), "upstream_connections")
}
