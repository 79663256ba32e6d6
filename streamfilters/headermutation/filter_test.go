package headermutation

import (
	"context"
	"encoding/json"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/protocol"

	"github.com/meshproto/meshproto/streamfilters/internal/filtertest"
)

func newReq(headers map[string]string) *filtertest.Request {
	h := protocol.CommonHeader{}
	for k, v := range headers {
		h[k] = v
	}
	return &filtertest.Request{CommonHeader: h, Proto: "dubbo", Svc: "org.example.Greeter", Meth: "greet", Ver: "1.0.0"}
}

func newResp(headers map[string]string) *filtertest.Response {
	h := protocol.CommonHeader{}
	for k, v := range headers {
		h[k] = v
	}
	return &filtertest.Response{CommonHeader: h, Proto: "dubbo", OK: true}
}

func conf(t *testing.T, js string) map[string]interface{} {
	t.Helper()
	var m map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(js), &m))
	return m
}

// stream builds the filter chain of one stream from a JSON config.
func stream(t *testing.T, js string, h api.StreamReceiverFilterHandler) *filtertest.Callbacks {
	t.Helper()
	fac, err := CreateFilterFactory(conf(t, js))
	require.NoError(t, err)
	cb := &filtertest.Callbacks{}
	fac.CreateFilterChain(context.Background(), cb)
	if cb.Receiver() != nil {
		cb.Receiver().SetReceiveFilterHandler(h)
	}
	return cb
}

func headersOf(h protocol.CommonHeader) map[string]string {
	return map[string]string(h)
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ js, want string }{
		{`{"request": [{"match": {}}]}`, `request[0]: nothing to do; want set or remove`},
		{`{"request": [{"set": {"x-rpc-service": "a"}}]}`, `request[0].set key "x-rpc-service": x-rpc-* keys are computed by the codec and read-only`},
		{`{"request": [{"set": {"a": "1"}}, {"set": {"X-RPC-Method": "a"}}]}`, `request[1].set key "X-RPC-Method": x-rpc-*`},
		{`{"response": [{"remove": ["a", "x-rpc-status"]}]}`, `response[0].remove[1] key "x-rpc-status"`},
		{`{"request": [{"remove": [""]}]}`, `request[0].remove[0]: empty header key`},
		{`{"request": [{"set": {"": "v"}}]}`, `request[0].set: empty header key`},
		{`{"request": [{"set": {"a": ""}}]}`, `request[0].set["a"] "": empty value; use remove`},
		{`{"request": [{"set": {"a": "{servce}"}}]}`, `request[0].set["a"] "{servce}": unknown placeholder {servce}`},
		{`{"request": [{"set": {"a": "{header:}"}}]}`, `unknown placeholder {header:}`},
		{`{"response": [{"set": {"a": "x-{method"}}]}`, `response[0].set["a"] "x-{method": unclosed '{'`},
		{`{"request": [{"set": {"a": "1"}, "remove": ["a"]}]}`, `request[0].remove[0] "a": also in set`},
		{`{"request": [{"set": {"a": "1"}, "match": {"method": {"regex": "("}}}]}`, `request[0].match.method.regex "("`},
		{`{"response": [{"set": {"a": "1"}, "match": {"source_ips": ["nope"]}}]}`, `response[0].match.source_ips[0] "nope"`},
		{`{"request": [{"sets": {"a": "1"}}]}`, `unknown field "sets"`},
		{`{"requests": []}`, `unknown field "requests"`},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			_, err := CreateFilterFactory(conf(t, tc.js))
			require.Error(t, err)
			assert.Contains(t, err.Error(), FilterName+": config")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRequestRules(t *testing.T) {
	cases := []struct {
		name string
		js   string
		in   map[string]string
		want map[string]string
	}{
		{
			name: "set and remove on a match",
			js:   `{"request": [{"match": {"service": {"exact": "org.example.Greeter"}}, "set": {"x-env": "prod", "x-tag": "gray"}, "remove": ["x-debug"]}]}`,
			in:   map[string]string{"x-debug": "1", "x-tag": "blue"},
			want: map[string]string{"x-env": "prod", "x-tag": "gray"},
		},
		{
			name: "no match, no change",
			js:   `{"request": [{"match": {"service": {"exact": "org.example.Other"}}, "set": {"x-env": "prod"}, "remove": ["x-debug"]}]}`,
			in:   map[string]string{"x-debug": "1"},
			want: map[string]string{"x-debug": "1"},
		},
		{
			name: "every matching rule applies, in order",
			js: `{"request": [
				{"set": {"x-a": "1", "x-b": "1"}},
				{"match": {"method": {"exact": "other"}}, "set": {"x-c": "never"}},
				{"match": {"headers": [{"name": "x-a", "exact": "1"}]}, "set": {"x-b": "2"}},
				{"remove": ["x-a"]}
			]}`,
			in:   map[string]string{},
			want: map[string]string{"x-b": "2"},
		},
		{
			name: "removing a missing key is fine",
			js:   `{"request": [{"remove": ["x-none"]}]}`,
			in:   map[string]string{"k": "v"},
			want: map[string]string{"k": "v"},
		},
		{
			name: "placeholders",
			js: `{"request": [{"set": {
				"x-route": "{service}/{method}",
				"x-version": "v{version}",
				"x-proto": "{protocol}",
				"x-copy": "{header:x-tenant}",
				"x-mixed": "{protocol}://{service}:{version}?t={header:x-tenant}"
			}}]}`,
			in: map[string]string{"x-tenant": "t1"},
			want: map[string]string{"x-tenant": "t1", "x-route": "org.example.Greeter/greet", "x-version": "v1.0.0",
				"x-proto": "dubbo", "x-copy": "t1", "x-mixed": "dubbo://org.example.Greeter:1.0.0?t=t1"},
		},
		{
			name: "a value that renders empty is not set; a partly empty one is",
			js:   `{"request": [{"set": {"x-group": "{group}", "x-copy": "{header:x-missing}", "x-g": "g={group}"}}]}`,
			in:   map[string]string{"x-copy": "kept"},
			want: map[string]string{"x-copy": "kept", "x-g": "g="},
		},
		{
			name: "placeholders see the request before the rule's own changes",
			js:   `{"request": [{"set": {"x-a": "new", "x-b": "{header:x-a}", "x-c": "{header:x-old}"}, "remove": ["x-old"]}]}`,
			in:   map[string]string{"x-a": "orig", "x-old": "gone"},
			want: map[string]string{"x-a": "new", "x-b": "orig", "x-c": "gone"},
		},
		{
			name: "a later rule sees an earlier rule's changes",
			js:   `{"request": [{"set": {"x-a": "first"}}, {"set": {"x-b": "{header:x-a}"}}]}`,
			in:   map[string]string{},
			want: map[string]string{"x-a": "first", "x-b": "first"},
		},
		{
			name: "a placeholder naming a reserved key reads it",
			js:   `{"request": [{"set": {"x-svc": "{header:x-rpc-service}"}}]}`,
			in:   map[string]string{"x-rpc-service": "from-header"},
			want: map[string]string{"x-rpc-service": "from-header", "x-svc": "from-header"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb := stream(t, tc.js, &filtertest.Handler{})
			assert.Equal(t, []api.ReceiverFilterPhase{api.BeforeRoute}, cb.Phases)
			assert.Empty(t, cb.SenderPhases, "no response rules, no sender filter")
			req := newReq(tc.in)
			assert.Equal(t, api.StreamFilterContinue, cb.Receiver().OnReceive(context.Background(), req, nil, nil))
			assert.Equal(t, tc.want, headersOf(req.CommonHeader))
			cb.Receiver().OnDestroy()
		})
	}
}

func TestSourceAddressMatch(t *testing.T) {
	const js = `{"request": [{"match": {"source_ips": ["10.0.0.0/8"]}, "set": {"x-zone": "internal"}}]}`
	cases := []struct {
		name    string
		handler api.StreamReceiverFilterHandler
		want    bool
	}{
		{"inside", &filtertest.Handler{Conn: &filtertest.Conn{Addr: &net.TCPAddr{IP: net.ParseIP("10.2.3.4"), Port: 1}}}, true},
		{"outside", &filtertest.Handler{Conn: &filtertest.Conn{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 1}}}, false},
		{"no connection", &filtertest.Handler{}, false},
		{"no handler", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb := stream(t, js, tc.handler)
			req := newReq(nil)
			cb.Receiver().OnReceive(context.Background(), req, nil, nil)
			_, set := req.Get("x-zone")
			assert.Equal(t, tc.want, set)
		})
	}
}

func TestResponseRules(t *testing.T) {
	const js = `{
	  "request": [{"match": {"headers": [{"name": "x-canary", "present": true}]}, "set": {"x-route-tag": "canary"}}],
	  "response": [
	    {"match": {"service": {"exact": "org.example.Greeter"}}, "set": {"x-served-via": "meshproto", "x-served-for": "{service}.{method}@{header:x-tenant}"}, "remove": ["x-internal"]},
	    {"match": {"method": {"exact": "other"}}, "set": {"x-never": "1"}},
	    {"match": {"headers": [{"name": "x-route-tag", "exact": "canary"}]}, "set": {"x-canary-reply": "yes"}}
	  ]
	}`
	cases := []struct {
		name string
		req  *filtertest.Request
		resp api.HeaderMap
		want map[string]string // the response's headers after Append
	}{
		{
			name: "matching rules apply to the response, placeholders from the request",
			req:  newReq(map[string]string{"x-tenant": "t1"}),
			resp: newResp(map[string]string{"x-internal": "secret", "x-app": "1"}),
			want: map[string]string{"x-app": "1", "x-served-via": "meshproto", "x-served-for": "org.example.Greeter.greet@t1"},
		},
		{
			name: "response rules match the request as the request rules left it",
			req:  newReq(map[string]string{"x-canary": "1", "x-tenant": "t2"}),
			resp: newResp(nil),
			want: map[string]string{"x-served-via": "meshproto", "x-served-for": "org.example.Greeter.greet@t2", "x-canary-reply": "yes"},
		},
		{
			name: "request did not match: the response is untouched",
			req:  &filtertest.Request{CommonHeader: protocol.CommonHeader{}, Proto: "thrift", Svc: "Calculator", Meth: "add"},
			resp: newResp(map[string]string{"x-internal": "secret"}),
			want: map[string]string{"x-internal": "secret"},
		},
		{
			name: "a frame that says it is a request (a local reply) is untouched",
			req:  newReq(map[string]string{"x-tenant": "t1"}),
			resp: &filtertest.TypedResponse{Response: *newResp(map[string]string{"x-internal": "secret"}), StreamType: api.Request},
			want: map[string]string{"x-internal": "secret"},
		},
		{
			name: "a frame that says it is a response is changed",
			req:  newReq(map[string]string{"x-tenant": "t1"}),
			resp: &filtertest.TypedResponse{Response: *newResp(nil), StreamType: api.Response},
			want: map[string]string{"x-served-via": "meshproto", "x-served-for": "org.example.Greeter.greet@t1"},
		},
		{
			name: "other traffic in the response is untouched",
			req:  newReq(nil),
			resp: protocol.CommonHeader{"x-internal": "secret"},
			want: map[string]string{"x-internal": "secret"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb := stream(t, js, &filtertest.Handler{})
			assert.Equal(t, []api.ReceiverFilterPhase{api.BeforeRoute}, cb.Phases)
			require.Equal(t, []api.SenderFilterPhase{api.BeforeSend}, cb.SenderPhases)
			cb.Sender().SetSenderFilterHandler(nil)
			assert.Equal(t, api.StreamFilterContinue, cb.Receiver().OnReceive(context.Background(), tc.req, nil, nil))
			// Nothing happens to the response before Append.
			_, hasResp := tc.req.Get("x-served-via")
			assert.False(t, hasResp, "response rules never touch the request")
			assert.Equal(t, api.StreamFilterContinue, cb.Sender().Append(context.Background(), tc.resp, nil, nil))
			var got map[string]string
			switch r := tc.resp.(type) {
			case *filtertest.Response:
				got = headersOf(r.CommonHeader)
			case *filtertest.TypedResponse:
				got = headersOf(r.CommonHeader)
			case protocol.CommonHeader:
				got = headersOf(r)
			}
			if len(tc.want) == 0 {
				assert.Empty(t, got)
			} else {
				assert.Equal(t, tc.want, got)
			}
			cb.Receiver().OnDestroy()
			cb.Sender().OnDestroy()
		})
	}
}

func TestAppendWithoutAMatchedRequestChangesNothing(t *testing.T) {
	cb := stream(t, `{"response": [{"set": {"x-served-via": "meshproto"}}]}`, &filtertest.Handler{})
	// The request was not a meshproto request: nothing was remembered.
	cb.Receiver().OnReceive(context.Background(), protocol.CommonHeader{"x-rpc-service": "S"}, nil, nil)
	resp := newResp(nil)
	cb.Sender().Append(context.Background(), resp, nil, nil)
	assert.Empty(t, resp.CommonHeader)
}

func TestOtherTrafficPassesUntouched(t *testing.T) {
	cb := stream(t, `{"request": [{"set": {"x-a": "1"}, "remove": ["x-b"]}]}`, &filtertest.Handler{})
	h := protocol.CommonHeader{"x-b": "2"}
	assert.Equal(t, api.StreamFilterContinue, cb.Receiver().OnReceive(context.Background(), h, nil, nil))
	assert.Equal(t, map[string]string{"x-b": "2"}, headersOf(h))
}

func TestFilterChain(t *testing.T) {
	cases := []struct {
		name      string
		js        string
		receivers int
		senders   int
	}{
		{"empty config adds nothing", `{}`, 0, 0},
		{"request rules only", `{"request": [{"set": {"a": "1"}}]}`, 1, 0},
		{"response rules need the receiver too", `{"response": [{"set": {"a": "1"}}]}`, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cb := stream(t, tc.js, nil)
			assert.Len(t, cb.Phases, tc.receivers)
			assert.Len(t, cb.SenderPhases, tc.senders)
			if tc.senders > 0 {
				assert.Same(t, cb.Receiver().(*filter), cb.Sender().(*filter), "one per-stream state for both sides")
			}
		})
	}
}

func TestPooledFilterIsReleasedAfterBothDestroys(t *testing.T) {
	cb := stream(t, `{"response": [{"set": {"a": "{service}"}}]}`, &filtertest.Handler{})
	f := cb.Receiver().(*filter)
	f.OnReceive(context.Background(), newReq(nil), nil, nil)
	require.Equal(t, []string{"org.example.Greeter"}, f.values)
	cb.Receiver().OnDestroy()
	assert.NotNil(t, f.cfg, "the sender half still uses the state")
	cb.Sender().OnDestroy()
	assert.Nil(t, f.cfg)
	assert.Nil(t, f.handler)
	assert.Empty(t, f.values)
	assert.Empty(t, f.matched)
}

func TestRegisteredUnderItsName(t *testing.T) {
	_, err := api.CreateStreamFilterChainFactory(FilterName, map[string]interface{}{"request": []interface{}{}})
	require.NoError(t, err)
}

func TestLiteralValuesDoNotAllocate(t *testing.T) {
	fac, err := CreateFilterFactory(conf(t, `{
	  "request": [{"match": {"service": {"prefix": "org.example."}}, "set": {"x-env": "prod", "x-svc": "{service}"}, "remove": ["x-debug"]}],
	  "response": [{"match": {"method": {"exact": "greet"}}, "set": {"x-served-via": "meshproto", "x-version": "{version}"}}]
	}`))
	require.NoError(t, err)
	h := &filtertest.Handler{Conn: &filtertest.Conn{Addr: &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 1}}}
	req := newReq(map[string]string{"x-env": "", "x-svc": "", "x-debug": "1"})
	resp := newResp(map[string]string{"x-served-via": "", "x-version": ""})
	ctx := context.Background()
	var cb filtertest.Callbacks
	fac.CreateFilterChain(ctx, &cb)
	cb.Receiver().SetReceiveFilterHandler(h)
	run := func() {
		cb.Receiver().OnReceive(ctx, req, nil, nil)
		cb.Sender().Append(ctx, resp, nil, nil)
	}
	run() // warm up the per-stream slices
	assert.Zero(t, testing.AllocsPerRun(100, run))
	assert.Equal(t, map[string]string{"x-env": "prod", "x-svc": "org.example.Greeter"}, headersOf(req.CommonHeader))
	assert.Equal(t, map[string]string{"x-served-via": "meshproto", "x-version": "1.0.0"}, headersOf(resp.CommonHeader))
}

func BenchmarkRequestAndResponse(b *testing.B) {
	fac, _ := CreateFilterFactory(map[string]interface{}{
		"request":  []interface{}{map[string]interface{}{"match": map[string]interface{}{"service": map[string]interface{}{"prefix": "org."}}, "set": map[string]interface{}{"x-env": "prod"}}},
		"response": []interface{}{map[string]interface{}{"set": map[string]interface{}{"x-served-via": "meshproto"}}},
	})
	req := newReq(map[string]string{"x-env": ""})
	resp := newResp(map[string]string{"x-served-via": ""})
	ctx := context.Background()
	cb := &filtertest.Callbacks{}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		cb.Reset()
		fac.CreateFilterChain(ctx, cb)
		cb.Receiver().SetReceiveFilterHandler(nil)
		cb.Receiver().OnReceive(ctx, req, nil, nil)
		cb.Sender().Append(ctx, resp, nil, nil)
		cb.Receiver().OnDestroy()
		cb.Sender().OnDestroy()
	}
}
