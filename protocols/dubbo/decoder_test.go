package dubbo

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	_ "mosn.io/mosn/pkg/protocol"
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/buffer"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/internal/dubbopeer"
	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

func TestDecodeRequestMetadata(t *testing.T) {
	now := time.Date(2026, 11, 22, 5, 0, 0, 0, time.UTC)
	cases := []struct {
		name       string
		args       []interface{}
		paramTypes string
	}{
		{name: "1 KB string argument", args: []interface{}{strings.Repeat("x", 1024)}},
		{name: "no arguments", args: nil},
		{name: "ints and longs in every width", args: []interface{}{int32(0), int32(-16), int32(47), int32(2047), int32(-262144), int32(math.MaxInt32), int64(math.MinInt64), int64(1 << 40)}},
		{name: "POJO argument", args: []interface{}{&user{Name: "ann", Age: 7, Tags: []string{"a", "b"}}}},
		{name: "same POJO twice uses a class ref", args: []interface{}{&user{Name: "a"}, &user{Name: "b"}}, paramTypes: "Lorg/meshproto/demo/User;Lorg/meshproto/demo/User;"},
		{name: "list and map", args: []interface{}{[]interface{}{int32(1), "two", 3.5}, map[interface{}]interface{}{"k": "v", int32(1): []byte{1, 2}}}, paramTypes: "Ljava/util/List;Ljava/util/Map;"},
		{name: "binary, date, bool, double", args: []interface{}{make([]byte, 70000), now, true, 1.25}, paramTypes: "[BLjava/util/Date;ZD"},
		{name: "large string, chunked", args: []interface{}{strings.Repeat("中", 40000)}},
		{name: "null argument", args: []interface{}{nil}, paramTypes: "Ljava/lang/Object;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			inv := greetInvocation()
			inv.Args, inv.ParamTypes = tc.args, tc.paramTypes
			raw := mustRequest(t, 77, inv, true)
			f := decodeOne(t, raw)
			want := peerRequest(t, raw)

			assert.Equal(t, api.Request, f.GetStreamType())
			assert.Equal(t, uint64(77), f.GetRequestId())
			assert.Equal(t, want.DubboVersion, f.DubboVersion())
			assert.Equal(t, want.Service, f.Path())
			assert.Equal(t, want.ParamTypes, f.ParamTypes())
			assert.Equal(t, "org.meshproto.demo.GreetingService", f.Service())
			assert.Equal(t, "greet", f.Method())
			assert.Equal(t, "1.0.0", f.Version())
			assert.Equal(t, "blue", f.Group())
			assert.Equal(t, int32(1500), f.GetTimeout())
			assert.False(t, f.IsHeartbeatFrame())
			for k, v := range want.Attachments {
				got, ok := f.Get(k)
				assert.True(t, ok, "attachment %q", k)
				assert.Equal(t, v, got, "attachment %q", k)
			}
			for k, v := range map[string]string{
				rpcmeta.KeyService: "org.meshproto.demo.GreetingService", rpcmeta.KeyMethod: "greet",
				rpcmeta.KeyVersion: "1.0.0", rpcmeta.KeyGroup: "blue", rpcmeta.KeyProtocol: "dubbo",
			} {
				got, ok := f.Get(k)
				assert.True(t, ok, k)
				assert.Equal(t, v, got, k)
			}
		})
	}
}

func TestServiceComesFromInterfaceAttachment(t *testing.T) {
	inv := greetInvocation()
	inv.Attachments = map[string]string{"interface": "com.example.RealInterface"}
	f := decodeOne(t, mustRequest(t, 1, inv, true))
	assert.Equal(t, "com.example.RealInterface", f.Service())
	assert.Equal(t, "org.meshproto.demo.GreetingService", f.Path())
}

func TestVersionFallsBackToAttachment(t *testing.T) {
	inv := greetInvocation()
	inv.Version = ""
	inv.Attachments = map[string]string{"version": "3.1.4"}
	f := decodeOne(t, mustRequest(t, 1, inv, true))
	assert.Equal(t, "3.1.4", f.Version())
}

func TestFrameKinds(t *testing.T) {
	inv := greetInvocation()
	cases := []struct {
		name      string
		raw       []byte
		stream    api.StreamType
		heartbeat bool
		goAway    bool
		status    uint32
	}{
		{name: "two-way request", raw: mustRequest(t, 1, inv, true), stream: api.Request},
		{name: "one-way request has no response", raw: mustRequest(t, 2, inv, false), stream: api.RequestOneWay},
		{name: "heartbeat request", raw: dubbopeer.EncodeHeartbeat(3, true), stream: api.Request, heartbeat: true},
		{name: "heartbeat response", raw: dubbopeer.EncodeHeartbeat(4, false), stream: api.Response, heartbeat: true, status: 20},
		// Readonly event: flag 0xa2 (request|event|hessian2), body hessian "R".
		{name: "readonly event is a go-away", raw: []byte{0xda, 0xbb, 0xa2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0x01, 'R'}, stream: api.RequestOneWay, goAway: true},
		{name: "OK value response", raw: mustResponse(t, 6, &dubbopeer.ServerResponse{Value: "hi"}, false), stream: api.Response, status: 20},
	}
	for _, s := range []byte{30, 31, 40, 50, 60, 70, 80, 90, 100} {
		cases = append(cases, struct {
			name      string
			raw       []byte
			stream    api.StreamType
			heartbeat bool
			goAway    bool
			status    uint32
		}{name: "error response status " + statusStrings[s], raw: mustResponse(t, 9, &dubbopeer.ServerResponse{Status: s, ErrorMessage: "boom"}, false), stream: api.Response, status: uint32(s)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := decodeOne(t, tc.raw)
			assert.Equal(t, tc.stream, f.GetStreamType())
			assert.Equal(t, tc.heartbeat, f.IsHeartbeatFrame())
			assert.Equal(t, tc.goAway, f.IsGoAwayFrame())
			if tc.stream == api.Response {
				assert.Equal(t, tc.status, f.GetStatusCode())
				st, ok := f.Get(rpcmeta.KeyStatus)
				assert.True(t, ok)
				assert.Equal(t, statusStrings[tc.status], st)
			}
			// Forwarded untouched.
			assert.Equal(t, tc.raw, encode(t, f))
		})
	}
}

func TestUnknownOnewayEventIsDropped(t *testing.T) {
	// Flag 0xa2 with body hessian "X": an event nobody answers. The next
	// frame in the same buffer is still decoded.
	ev := []byte{0xda, 0xbb, 0xa2, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0x01, 'X'}
	req := mustRequest(t, 8, greetInvocation(), true)
	fs, err := decodeAll(t, append(ev, req...))
	require.NoError(t, err)
	require.Len(t, fs, 1)
	assert.Equal(t, uint64(8), fs[0].GetRequestId())
}

func TestResponseAttachments(t *testing.T) {
	cases := []struct {
		name string
		resp *dubbopeer.ServerResponse
	}{
		{name: "value with attachments", resp: &dubbopeer.ServerResponse{Value: "v", Attachments: map[string]string{"served-by": "p1"}}},
		{name: "null value with attachments", resp: &dubbopeer.ServerResponse{Attachments: map[string]string{"served-by": "p1"}}},
		{name: "exception with attachments", resp: &dubbopeer.ServerResponse{Exception: "bad", Attachments: map[string]string{"served-by": "p1"}}},
		{name: "trailing null after attachments", resp: &dubbopeer.ServerResponse{Value: int32(5), Attachments: map[string]string{"served-by": "p1"}, TrailingNull: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := decodeOne(t, mustResponse(t, 3, tc.resp, false))
			v, ok := f.Get("served-by")
			assert.True(t, ok)
			assert.Equal(t, "p1", v)
			assert.True(t, f.Succeeded())
		})
	}
}

func TestPartialFramesWait(t *testing.T) {
	raw := mustRequest(t, 5, greetInvocation(), true)
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
	assert.Equal(t, 0, buf.Len())
}

func TestPipelinedFramesDecodeInOrder(t *testing.T) {
	var all []byte
	for id := uint64(1); id <= 5; id++ {
		all = append(all, mustRequest(t, id, greetInvocation(), true)...)
	}
	fs, err := decodeAll(t, all)
	require.NoError(t, err)
	require.Len(t, fs, 5)
	for i, f := range fs {
		assert.Equal(t, uint64(i+1), f.GetRequestId())
	}
}

func TestConnectionErrors(t *testing.T) {
	hdr := func(length uint32) []byte {
		return []byte{0xda, 0xbb, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 1, byte(length >> 24), byte(length >> 16), byte(length >> 8), byte(length)}
	}
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{name: "wrong first magic byte", raw: []byte{0x00}, want: "bad magic"},
		{name: "wrong second magic byte", raw: []byte{0xda, 0x00}, want: "bad magic"},
		{name: "HTTP on a dubbo port", raw: []byte("GET / HTTP/1.1\r\n"), want: "bad magic"},
		{name: "negative body length", raw: hdr(0x80000000), want: "negative body length"},
		{name: "2 GiB minus one body", raw: hdr(0x7fffffff), want: "over limit"},
		{name: "just over 8 MiB", raw: hdr(8<<20 - HeaderLen + 1), want: "over limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := decodeAll(t, tc.raw)
			assert.Empty(t, fs)
			var ce *ConnError
			require.True(t, errors.As(err, &ce), "want ConnError, got %v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestFrameLimitIsConfigurable(t *testing.T) {
	raw := mustRequest(t, 1, greetInvocation(), true)
	p := NewProtocol(Config{MaxFrameBytes: len(raw) - 1})
	_, err := p.Decode(context.Background(), buffer.NewIoBufferBytes(raw))
	assert.ErrorIs(t, err, ErrFrameTooLarge)
	p = NewProtocol(Config{MaxFrameBytes: len(raw)})
	v, err := p.Decode(context.Background(), buffer.NewIoBufferBytes(raw))
	assert.NoError(t, err)
	assert.NotNil(t, v)
}

func TestMalformedRequestBodyIsAnsweredNotForwarded(t *testing.T) {
	good := mustRequest(t, 42, greetInvocation(), true)
	cases := []struct {
		name string
		body []byte
	}{
		{name: "empty body", body: nil},
		{name: "reserved hessian tag", body: []byte{0x40}},
		{name: "truncated string", body: []byte{0x05, 'a', 'b'}},
		{name: "bad parameter descriptor", body: []byte{0x05, '2', '.', '0', '.', '2', 0x01, 's', 0x00, 0x01, 'm', 0x01, 'Q'}},
		{name: "argument missing", body: good[HeaderLen : HeaderLen+60]},
		{name: "attachment key not a string", body: append(append([]byte(nil), good[HeaderLen:len(good)-1]...), 0x90, 0x90, 'Z')},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := append(append([]byte(nil), good[:HeaderLen]...), tc.body...)
			putLen(raw)
			fs, err := decodeAll(t, raw)
			require.NoError(t, err, "MOSN never answers a decode error, so the frame carries it")
			require.Len(t, fs, 1)
			var se *StreamError
			require.True(t, errors.As(fs[0].DecodeError(), &se), "want StreamError, got %v", fs[0].DecodeError())
			assert.Equal(t, uint64(42), se.RequestID)
			assert.Equal(t, api.Request, fs[0].GetStreamType())
			fs[0].Set("ignored", "x")
			_, ok := fs[0].Get("ignored")
			assert.False(t, ok, "a malformed request carries no attachments")
			// Whatever status MOSN asks for, the answer is BAD_REQUEST
			// and names the problem.
			resp := NewProtocol(Config{}).Hijack(context.Background(), fs[0], uint32(StatusServiceNotFound))
			res := peerResponse(t, encode(t, resp))
			assert.Equal(t, StatusBadRequest, res.Status)
			assert.Contains(t, res.ErrorMessage, "bad request")
			assert.Equal(t, uint64(42), res.RequestID)
			if tc.name == "argument missing" {
				assert.Contains(t, res.ErrorMessage, "org.meshproto.demo.GreetingService", "the path read before the error names the service")
			}
		})
	}
}

func putLen(raw []byte) {
	n := len(raw) - HeaderLen
	raw[12], raw[13], raw[14], raw[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func TestMalformedOnewayRequestIsAStreamError(t *testing.T) {
	good := mustRequest(t, 43, greetInvocation(), false)
	raw := append(append([]byte(nil), good[:HeaderLen]...), 0x40)
	putLen(raw)
	_, err := decodeAll(t, raw)
	var se *StreamError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, uint64(43), se.RequestID)
}

func TestTooManyAttachments(t *testing.T) {
	inv := greetInvocation()
	inv.Attachments = map[string]string{}
	for i := 0; i < 20; i++ {
		inv.Attachments[statusStrings[i]] = "v"
	}
	p := NewProtocol(Config{MaxAttachments: 10})
	v, err := p.Decode(context.Background(), buffer.NewIoBufferBytes(mustRequest(t, 1, inv, true)))
	require.NoError(t, err)
	var se *StreamError
	require.ErrorAs(t, v.(*Frame).DecodeError(), &se)
	assert.Contains(t, se.Error(), "more than 10")
}

func TestCountParams(t *testing.T) {
	cases := []struct {
		desc    string
		n       int
		wantErr bool
	}{
		{"", 0, false},
		{"I", 1, false},
		{"Ljava/lang/String;", 1, false},
		{"Ljava/lang/String;[IJ", 3, false},
		{"[[Ljava/lang/Object;Z", 2, false},
		{"ZBCDFIJS", 8, false},
		{"Ljava/lang/String", 0, true},
		{"[", 0, true},
		{"Q", 0, true},
	}
	for _, tc := range cases {
		n, err := countParams(tc.desc)
		if tc.wantErr {
			assert.Error(t, err, tc.desc)
			continue
		}
		assert.NoError(t, err, tc.desc)
		assert.Equal(t, tc.n, n, tc.desc)
	}
}

func TestMatch(t *testing.T) {
	assert.Equal(t, api.MatchAgain, Match(nil))
	assert.Equal(t, api.MatchAgain, Match([]byte{0xda}))
	assert.Equal(t, api.MatchSuccess, Match([]byte{0xda, 0xbb}))
	assert.Equal(t, api.MatchSuccess, Match(dubbopeer.EncodeHeartbeat(1, true)))
	assert.Equal(t, api.MatchFailed, Match([]byte{0xda, 0xbc}))
	assert.Equal(t, api.MatchFailed, Match([]byte("GET /")))
}

func TestRequestsSetMOSNHostAndPath(t *testing.T) {
	ctx := variable.NewVariableContext(context.Background())
	inv := greetInvocation()
	_, err := NewProtocol(Config{}).Decode(ctx, buffer.NewIoBufferBytes(mustRequest(t, 1, inv, true)))
	require.NoError(t, err)
	host, err := variable.GetString(ctx, types.VarHost)
	require.NoError(t, err)
	assert.Equal(t, inv.Service, host)
	path, err := variable.GetString(ctx, types.VarPath)
	require.NoError(t, err)
	assert.Equal(t, "/"+inv.Service+"/"+inv.Method, path)

	// Heartbeats and responses set nothing.
	for name, raw := range map[string][]byte{
		"heartbeat": encode(t, NewProtocol(Config{}).Trigger(context.Background(), 2)),
		"response":  mustResponse(t, 3, &dubbopeer.ServerResponse{Value: "x"}, false),
	} {
		ctx := variable.NewVariableContext(context.Background())
		_, err := NewProtocol(Config{}).Decode(ctx, buffer.NewIoBufferBytes(raw))
		require.NoError(t, err, name)
		p, err := variable.GetString(ctx, types.VarPath)
		assert.True(t, err != nil || p == "", name)
	}
}

func TestRequestsAnswerMOSNStockKeys(t *testing.T) {
	inv := greetInvocation()
	f := decodeOne(t, mustRequest(t, 1, inv, true))
	for key, want := range map[string]string{"service": inv.Service, "method": inv.Method, "version": inv.Version} {
		v, ok := f.Get(key)
		assert.True(t, ok, key)
		assert.Equal(t, want, v, key)
	}
	// An attachment of that name wins: it is what is on the wire.
	inv.Attachments = map[string]string{"method": "from-attachment"}
	f = decodeOne(t, mustRequest(t, 1, inv, true))
	v, _ := f.Get("method")
	assert.Equal(t, "from-attachment", v)
}

func TestConnTimeoutsFromExtendsJSON(t *testing.T) {
	c := &XCodec{}
	assert.Equal(t, rpcmeta.DefaultStallTimeout, c.StallTimeout())
	require.NoError(t, c.ConfigureJSON([]byte(`{"stall_timeout": "1s", "frame_timeout": "2s"}`)))
	assert.Equal(t, time.Second, c.StallTimeout())
	assert.Equal(t, 2*time.Second, c.FrameTimeout())
	assert.ErrorContains(t, c.ConfigureJSON([]byte(`{"frame_timeout": "x"}`)), "frame_timeout")
}
