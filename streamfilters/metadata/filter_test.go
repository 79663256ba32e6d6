package metadata

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/protocol"
	_ "mosn.io/mosn/pkg/proxy" // registers the proxy variables the filter sets
	"mosn.io/mosn/pkg/types"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// fakeRequest is an rpcmeta.Request with fixed fields: the filter must work
// through the interface alone, for any protocol.
type fakeRequest struct {
	service, method, version, group string
	headers                         map[string]string
}

func (r *fakeRequest) Get(k string) (string, bool) { v, ok := r.headers[k]; return v, ok }
func (r *fakeRequest) Set(k, v string)             { r.headers[k] = v }
func (r *fakeRequest) Add(k, v string)             { r.headers[k] = v }
func (r *fakeRequest) Del(k string)                { delete(r.headers, k) }
func (r *fakeRequest) Range(f func(k, v string) bool) {
	for k, v := range r.headers {
		if !f(k, v) {
			return
		}
	}
}
func (r *fakeRequest) Clone() api.HeaderMap { return r }
func (r *fakeRequest) ByteSize() uint64     { return 0 }
func (r *fakeRequest) RPCProtocol() string  { return "fake" }
func (r *fakeRequest) Service() string      { return r.service }
func (r *fakeRequest) Method() string       { return r.method }
func (r *fakeRequest) Version() string      { return r.version }
func (r *fakeRequest) Group() string        { return r.group }

var _ rpcmeta.Request = (*fakeRequest)(nil)

func newRequest() *fakeRequest {
	return &fakeRequest{service: "com.example.Svc", method: "get", version: "2.0", headers: map[string]string{"x-tag": "gray"}}
}

func TestHostTemplates(t *testing.T) {
	cases := []struct {
		name string
		conf map[string]interface{}
		req  func(*fakeRequest)
		want string
	}{
		{name: "default is the service", conf: map[string]interface{}{}, want: "com.example.Svc"},
		{name: "service and version", conf: map[string]interface{}{"host": "{service}:{version}"}, want: "com.example.Svc:2.0"},
		{name: "literal text and a header", conf: map[string]interface{}{"host": "{header:x-tag}.{service}"}, want: "gray.com.example.Svc"},
		{name: "protocol and method", conf: map[string]interface{}{"host": "{protocol}/{method}"}, want: "fake/get"},
		{name: "fallback when a field is empty", conf: map[string]interface{}{"host": []interface{}{"{service}.{group}", "{service}"}}, want: "com.example.Svc"},
		{name: "first template wins when complete", conf: map[string]interface{}{"host": []interface{}{"{service}.{group}", "{service}"}},
			req: func(r *fakeRequest) { r.group = "g1" }, want: "com.example.Svc.g1"},
		{name: "nothing when every template has an empty field", conf: map[string]interface{}{"host": "{group}"}, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fac, err := CreateFilterFactory(tc.conf)
			require.NoError(t, err)
			req := newRequest()
			if tc.req != nil {
				tc.req(req)
			}
			assert.Equal(t, tc.want, fac.(*factory).filter.Host(req))
		})
	}
}

func TestBadConfigNamesTheProblem(t *testing.T) {
	cases := []struct {
		conf map[string]interface{}
		want string
	}{
		{map[string]interface{}{"host": "{servce}"}, "unknown placeholder {servce}"},
		{map[string]interface{}{"host": "{service"}, "unclosed"},
		{map[string]interface{}{"host": ""}, "empty"},
		{map[string]interface{}{"host": 3}, "want a template string"},
		{map[string]interface{}{"timeout": "max"}, `timeout "max"`},
		{map[string]interface{}{"hots": "{service}"}, `unknown field "hots"`},
	}
	for _, tc := range cases {
		_, err := CreateFilterFactory(tc.conf)
		require.Error(t, err, "%v", tc.conf)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), FilterName)
	}
}

func TestOnReceiveSetsTheHostVariable(t *testing.T) {
	fac, err := CreateFilterFactory(map[string]interface{}{})
	require.NoError(t, err)
	f := fac.(*factory).filter
	ctx := variable.NewVariableContext(context.Background())
	assert.Equal(t, api.StreamFilterContinue, f.OnReceive(ctx, newRequest(), nil, nil))
	host, err := variable.GetString(ctx, types.VarHost)
	require.NoError(t, err)
	assert.Equal(t, "com.example.Svc", host)

	// Other traffic (an HTTP header map) passes untouched.
	ctx = variable.NewVariableContext(context.Background())
	assert.Equal(t, api.StreamFilterContinue, f.OnReceive(ctx, protocol.CommonHeader{"service": "x"}, nil, nil))
	host, _ = variable.GetString(ctx, types.VarHost)
	assert.Empty(t, host)
}

// fakeRoute and friends give the timeout filter a route with a timeout.
type fakeHandler struct {
	api.StreamReceiverFilterHandler
	info     api.RequestInfo
	hijacked []int
}

func (h *fakeHandler) SendHijackReply(code int, headers api.HeaderMap) {
	h.hijacked = append(h.hijacked, code)
}

func (h *fakeHandler) RequestInfo() api.RequestInfo { return h.info }

type fakeInfo struct {
	api.RequestInfo
	rule api.RouteRule
}

func (i *fakeInfo) RouteEntry() api.RouteRule { return i.rule }

type fakeRule struct {
	api.RouteRule
	timeout time.Duration
}

func (r *fakeRule) GlobalTimeout() time.Duration { return r.timeout }

func TestTimeoutPolicyMin(t *testing.T) {
	cases := []struct {
		name   string
		client string // VarProxyGlobalTimeout set by the codec, "" = none
		route  time.Duration
		want   string
	}{
		{name: "route caps a longer client timeout", client: "5000", route: time.Second, want: "1000"},
		{name: "shorter client timeout stays", client: "300", route: time.Second, want: "300"},
		{name: "route applies when the client sent none", client: "", route: 2 * time.Second, want: "2000"},
		{name: "no route timeout leaves the client's", client: "700", route: 0, want: "700"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := variable.NewVariableContext(context.Background())
			if tc.client != "" {
				require.NoError(t, variable.SetString(ctx, types.VarProxyGlobalTimeout, tc.client))
			}
			f := &routedFilter{timeout: TimeoutMin}
			f.SetReceiveFilterHandler(&fakeHandler{info: &fakeInfo{rule: &fakeRule{timeout: tc.route}}})
			assert.Equal(t, api.StreamFilterContinue, f.OnReceive(ctx, newRequest(), nil, nil))
			got, _ := variable.GetString(ctx, types.VarProxyGlobalTimeout)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestTimeoutPolicyClientKeepsTheClientTimeout(t *testing.T) {
	ctx := variable.NewVariableContext(context.Background())
	require.NoError(t, variable.SetString(ctx, types.VarProxyGlobalTimeout, "5000"))
	f := &routedFilter{timeout: TimeoutClient}
	f.SetReceiveFilterHandler(&fakeHandler{info: &fakeInfo{rule: &fakeRule{timeout: time.Second}}})
	assert.Equal(t, api.StreamFilterContinue, f.OnReceive(ctx, newRequest(), nil, nil))
	got, _ := variable.GetString(ctx, types.VarProxyGlobalTimeout)
	assert.Equal(t, "5000", got)
}

// invalidRequest is a request the codec could not read.
type invalidRequest struct{ *fakeRequest }

func (invalidRequest) DecodeError() error { return errors.New("truncated body") }

func TestInvalidRequestIsAnsweredNotForwarded(t *testing.T) {
	h := &fakeHandler{info: &fakeInfo{rule: &fakeRule{}}}
	f := &routedFilter{timeout: TimeoutMin}
	f.SetReceiveFilterHandler(h)
	ctx := variable.NewVariableContext(context.Background())
	assert.Equal(t, api.StreamFilterStop, f.OnReceive(ctx, invalidRequest{newRequest()}, nil, nil))
	assert.Equal(t, []int{api.CodecExceptionCode}, h.hijacked)
	// A good request passes.
	assert.Equal(t, api.StreamFilterContinue, f.OnReceive(ctx, newRequest(), nil, nil))
	assert.Len(t, h.hijacked, 1)
}

func TestFilterChainHasHostAndRoutedFilters(t *testing.T) {
	fac, err := CreateFilterFactory(map[string]interface{}{"timeout": "client"})
	require.NoError(t, err)
	cb := &countingCallbacks{}
	fac.CreateFilterChain(context.Background(), cb)
	assert.Equal(t, []api.ReceiverFilterPhase{api.BeforeRoute, api.AfterRoute}, cb.phases)
}

type countingCallbacks struct {
	api.StreamFilterChainFactoryCallbacks
	phases []api.ReceiverFilterPhase
}

func (c *countingCallbacks) AddStreamReceiverFilter(_ api.StreamReceiverFilter, p api.ReceiverFilterPhase) {
	c.phases = append(c.phases, p)
}
