package dubbo

import (
	"context"
	"encoding/binary"
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

	"github.com/meshproto/meshproto/internal/dubbopeer"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

func TestEncodePatchesOnlyTheRequestID(t *testing.T) {
	raw := mustRequest(t, 7, greetInvocation(), true)
	f := decodeOne(t, raw)
	f.SetRequestId(0x0102030405060708)
	out := encode(t, f)
	require.Len(t, out, len(raw))
	assert.Equal(t, uint64(0x0102030405060708), binary.BigEndian.Uint64(out[4:12]))
	assert.Equal(t, raw[:4], out[:4])
	assert.Equal(t, raw[12:], out[12:])
	// The frame's own bytes stay as received (a retry encodes again).
	assert.Equal(t, uint64(7), binary.BigEndian.Uint64(f.Raw()[4:12]))
}

func TestAttachmentChangesAreWrittenBack(t *testing.T) {
	cases := []struct {
		name   string
		args   []interface{}
		types  string
		mutate func(f *Frame)
		want   map[string]string // expected attachment changes ("" = deleted)
	}{
		{name: "add", mutate: func(f *Frame) { f.Set("x-added", "yes") }, want: map[string]string{"x-added": "yes"}},
		{name: "change", mutate: func(f *Frame) { f.Set("x-tag", "blue") }, want: map[string]string{"x-tag": "blue"}},
		{name: "delete", mutate: func(f *Frame) { f.Del("tenant") }, want: map[string]string{"tenant": ""}},
		{name: "non-ASCII value", mutate: func(f *Frame) { f.Set("who", "测试 🚀") }, want: map[string]string{"who": "测试 🚀"}},
		{name: "with POJO arguments", args: []interface{}{&user{Name: "n", Age: 3, Tags: []string{"t"}}, &user{Name: "m"}}, types: "Lorg/meshproto/demo/User;Lorg/meshproto/demo/User;",
			mutate: func(f *Frame) { f.Set("x-added", "1") }, want: map[string]string{"x-added": "1"}},
		{name: "reserved keys are read-only", mutate: func(f *Frame) { f.Set(rpcmeta.KeyService, "evil"); f.Del(rpcmeta.KeyMethod) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := greetInvocation()
			if tc.args != nil {
				inv.Args, inv.ParamTypes = tc.args, tc.types
			}
			raw := mustRequest(t, 11, inv, true)
			before := peerRequest(t, raw)
			f := decodeOne(t, raw)
			tc.mutate(f)
			f.SetRequestId(12)
			out := encode(t, f)
			after := peerRequest(t, out)

			assert.Equal(t, uint64(12), after.RequestID)
			assert.Equal(t, before.Service, after.Service)
			assert.Equal(t, before.Method, after.Method)
			assert.Equal(t, before.ParamTypes, after.ParamTypes)
			assert.Equal(t, before.Args, after.Args, "arguments are forwarded unchanged")
			want := map[string]string{}
			for k, v := range before.Attachments {
				want[k] = v
			}
			for k, v := range tc.want {
				if v == "" {
					delete(want, k)
				} else {
					want[k] = v
				}
			}
			assert.Equal(t, want, after.Attachments)
			// And our own decoder agrees.
			g := decodeOne(t, out)
			for k, v := range want {
				got, _ := g.Get(k)
				assert.Equal(t, v, got, k)
			}
		})
	}
}

func TestSettingTheSameValueDoesNotReencode(t *testing.T) {
	raw := mustRequest(t, 1, greetInvocation(), true)
	f := decodeOne(t, raw)
	f.Set("x-tag", "gray")
	assert.False(t, f.dirty)
	assert.Equal(t, raw, encode(t, f))
}

func TestResponseAttachmentsAreWrittenBack(t *testing.T) {
	cases := []struct {
		name string
		resp *dubbopeer.ServerResponse
	}{
		{name: "value without attachments gains some", resp: &dubbopeer.ServerResponse{Value: "v"}},
		{name: "null value without attachments", resp: &dubbopeer.ServerResponse{}},
		{name: "exception without attachments", resp: &dubbopeer.ServerResponse{Exception: "bad"}},
		{name: "value with attachments", resp: &dubbopeer.ServerResponse{Value: int32(3), Attachments: map[string]string{"a": "1"}, TrailingNull: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := mustResponse(t, 5, tc.resp, false)
			before := peerResponse(t, raw)
			f := decodeOne(t, raw)
			f.Set("x-served-by", "mesh")
			after := peerResponse(t, encode(t, f))
			assert.Equal(t, before.Value, after.Value)
			assert.Equal(t, before.Exception, after.Exception)
			assert.Equal(t, "mesh", after.Attachments["x-served-by"])
			for k, v := range before.Attachments {
				assert.Equal(t, v, after.Attachments[k])
			}
		})
	}
}

func TestReplacedBodyIsForwardedAsIs(t *testing.T) {
	f := decodeOne(t, mustRequest(t, 1, greetInvocation(), true))
	f.SetData(buffer.NewIoBufferString("abc"))
	f.Set("ignored", "because the body was replaced")
	out := encode(t, f)
	assert.Equal(t, uint32(3), binary.BigEndian.Uint32(out[12:16]))
	assert.Equal(t, "abc", string(out[HeaderLen:]))
}

func TestCloneIsIndependent(t *testing.T) {
	raw := mustRequest(t, 1, greetInvocation(), true)
	f := decodeOne(t, raw)
	c := f.Clone().(*Frame)
	c.Set("x-tag", "clone")
	c.SetRequestId(99)
	v, _ := f.Get("x-tag")
	assert.Equal(t, "gray", v)
	assert.Equal(t, raw, encode(t, f))
	assert.Equal(t, "clone", peerRequest(t, encode(t, c)).Attachments["x-tag"])
}

func TestRangeVisitsReservedKeysThenAttachments(t *testing.T) {
	f := decodeOne(t, mustRequest(t, 1, greetInvocation(), true))
	f.Del("zone")
	seen := map[string]string{}
	f.Range(func(k, v string) bool { seen[k] = v; return true })
	assert.Equal(t, "greet", seen[rpcmeta.KeyMethod])
	assert.Equal(t, "gray", seen["x-tag"])
	assert.NotContains(t, seen, "zone")
	assert.Greater(t, f.ByteSize(), uint64(0))
}

func TestHeartbeatTriggerAndReply(t *testing.T) {
	p := NewProtocol(Config{})
	trig := encode(t, p.Trigger(context.Background(), 31))
	assert.Equal(t, []byte{0xda, 0xbb, 0xe2, 0, 0, 0, 0, 0, 0, 0, 0, 31, 0, 0, 0, 1, 'N'}, trig)
	assert.Equal(t, dubbopeer.EncodeHeartbeat(31, true), trig)

	req := decodeOne(t, dubbopeer.EncodeHeartbeat(32, true))
	reply := encode(t, p.Reply(context.Background(), req))
	assert.Equal(t, dubbopeer.EncodeHeartbeat(32, false), reply)
	assert.True(t, decodeOne(t, reply).IsHeartbeatFrame())
}

func TestHijackAnswersWithDubboStatus(t *testing.T) {
	cases := []struct {
		mosnCode   int
		wantStatus byte
		wantText   string
	}{
		{api.RouterUnavailableCode, StatusServiceNotFound, "no route"},
		{api.NoHealthUpstreamCode, StatusServerError, "no healthy upstream"},
		{api.UpstreamOverFlowCode, StatusThreadpoolExhausted, "overflow"},
		{api.TimeoutExceptionCode, StatusServerTimeout, "timeout"},
		{api.PermissionDeniedCode, StatusBadRequest, "permission denied"},
		{api.LimitExceededCode, StatusThreadpoolExhausted, "rate limited"},
		{api.InternalErrorCode, StatusServerError, "proxy error"},
	}
	p := NewProtocol(Config{})
	req := decodeOne(t, mustRequest(t, 1234, greetInvocation(), true))
	for _, tc := range cases {
		t.Run(tc.wantText, func(t *testing.T) {
			ctx := variable.NewVariableContext(context.Background())
			require.NoError(t, variable.SetString(ctx, types.VarHeaderStatus, strconv.Itoa(tc.mosnCode)))
			resp := p.Hijack(ctx, req, p.Mapping(uint32(tc.mosnCode)))
			res := peerResponse(t, encode(t, resp))
			assert.Equal(t, tc.wantStatus, res.Status)
			assert.Equal(t, uint64(1234), res.RequestID)
			assert.Contains(t, res.ErrorMessage, tc.wantText)
			assert.Contains(t, res.ErrorMessage, "org.meshproto.demo.GreetingService")
		})
	}
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status byte
		want   int
	}{
		{StatusOK, http.StatusOK},
		{StatusClientTimeout, http.StatusGatewayTimeout},
		{StatusServerTimeout, http.StatusGatewayTimeout},
		{StatusBadRequest, http.StatusBadRequest},
		{StatusBadResponse, http.StatusInternalServerError},
		{StatusServiceNotFound, http.StatusNotFound},
		{StatusServiceError, http.StatusInternalServerError},
		{StatusServerError, http.StatusInternalServerError},
		{StatusClientError, http.StatusBadRequest},
		{StatusThreadpoolExhausted, http.StatusServiceUnavailable},
		{255, http.StatusInternalServerError},
	}
	m := StatusMapping{}
	for _, tc := range cases {
		f := decodeOne(t, mustResponse(t, 1, &dubbopeer.ServerResponse{Status: tc.status, ErrorMessage: "x"}, false))
		got, err := m.MappingHeaderStatusCode(context.Background(), f)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "status %d", tc.status)
	}
	// An application exception is a successful call.
	f := decodeOne(t, mustResponse(t, 1, &dubbopeer.ServerResponse{Exception: "biz"}, false))
	got, err := m.MappingHeaderStatusCode(context.Background(), f)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, got)
	// MOSN asks with nil headers for a reset stream.
	_, err = m.MappingHeaderStatusCode(context.Background(), nil)
	assert.Error(t, err)
}

func TestGoAwayFrame(t *testing.T) {
	g := NewProtocol(Config{}).GoAway(context.Background())
	out := encode(t, g)
	f := decodeOne(t, out)
	assert.True(t, f.IsGoAwayFrame())
}

func TestXCodec(t *testing.T) {
	c := &XCodec{}
	assert.Equal(t, ProtocolName, c.ProtocolName())
	assert.NotNil(t, c.NewXProtocol(context.Background()))
	assert.Error(t, c.Configure(Config{MaxFrameBytes: 3}))
	require.NoError(t, c.Configure(Config{MaxFrameBytes: 1 << 20}))
	assert.Equal(t, 1<<20, c.NewXProtocol(context.Background()).(*Protocol).cfg.MaxFrameBytes)
	cfg, err := ParseConfig([]byte(`{"max_frame_bytes": 1048576}`))
	require.NoError(t, err)
	assert.Equal(t, DefaultMaxAttachments, cfg.MaxAttachments)
	_, err = ParseConfig([]byte(`{"max_frame_bytes": "big"}`))
	assert.Error(t, err)
	assert.True(t, NewProtocol(Config{}).EnableWorkerPool())
	cfg, err = ParseConfig([]byte(`{"worker_pool": false}`))
	require.NoError(t, err)
	assert.False(t, NewProtocol(cfg).EnableWorkerPool())
}

func TestHijackHonoursAFiltersLocalReply(t *testing.T) {
	p := NewProtocol(Config{})
	req := decodeOne(t, mustRequest(t, 9, greetInvocation(), true))
	ctx := variable.NewVariableContext(context.Background())
	require.NoError(t, rpcmeta.SetLocalReply(ctx, &rpcmeta.LocalReply{Native: 100, HasNative: true, Message: "rate limited: greet"}))
	res := peerResponse(t, encode(t, p.Hijack(ctx, req, p.Mapping(429))))
	assert.Equal(t, byte(100), res.Status)
	assert.Equal(t, "rate limited: greet", res.ErrorMessage)
}
