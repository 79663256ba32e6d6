package accesscontrol

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/metrics"
	"mosn.io/mosn/pkg/protocol"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/filtertest"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
)

func dubboReq(service, method string, headers ...string) *filtertest.Request {
	return filtertest.NewRequest("dubbo", service, method, headers...)
}

func thriftReq(service, method string) *filtertest.Request {
	return filtertest.NewRequest("thrift", service, method)
}

func handlerFrom(ip string) *filtertest.Handler {
	return &filtertest.Handler{Conn: filtertest.ConnFrom(ip, 40000)}
}

// conf turns a JSON literal into the map MOSN hands the factory.
func conf(t *testing.T, js string) map[string]interface{} {
	t.Helper()
	var m map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(js), &m))
	return m
}

func newFactory(t *testing.T, js string) *Factory {
	t.Helper()
	fac, err := CreateFilterFactory(conf(t, js))
	require.NoError(t, err)
	return fac.(*Factory)
}

// newFilter is the filter CreateFilterChain would add, with h as handler.
func newFilter(f *Factory, h api.StreamReceiverFilterHandler) *filter {
	flt := &filter{policy: f.policy}
	flt.SetReceiveFilterHandler(h)
	return flt
}

func mosnCount(rule string, action Action) int64 {
	m, _ := metrics.NewMetrics(MetricType, map[string]string{"rule": rule, "action": string(action)})
	return m.Counter(MetricRequests).Count()
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct{ js, want string }{
		{`{"default_action": "block"}`, `default_action "block": want "allow" or "deny"`},
		{`{"rules": [{"action": "deny", "match": {}}]}`, `rules[0].name: missing`},
		{`{"rules": [{"name": "default", "action": "deny"}]}`, `rules[0].name "default": reserved`},
		{`{"rules": [{"name": "a", "action": "deny"}, {"name": "a", "action": "allow"}]}`, `rules[1].name "a": already used by rules[0]`},
		{`{"rules": [{"name": "a"}]}`, `rules[0].action: missing`},
		{`{"rules": [{"name": "a", "action": "reject"}]}`, `rules[0].action "reject"`},
		{`{"rules": [{"name": "a", "action": "deny", "match": {"service": {}}}]}`, `rules[0].match.service: want exactly one`},
		{`{"rules": [{"name": "a", "action": "deny", "match": {"method": {"regex": "("}}}]}`, `rules[0].match.method.regex "("`},
		{`{"rules": [{"name": "a", "action": "deny", "match": {"source_ips": ["10.0.0.300"]}}]}`, `rules[0].match.source_ips[0] "10.0.0.300"`},
		{`{"rules": [{"name": "a", "action": "deny", "match": {"servce": {"exact": "S"}}}]}`, `unknown field "servce"`},
		{`{"deny_error": {"http_status": 42}}`, `deny_error.http_status 42`},
		{`{"deny_error": {"native": {"dubbo": 300}}}`, `deny_error.native.dubbo 300`},
		{`{"deny_error": {"code": 1}}`, `unknown field "code"`},
		{`{"rule": []}`, `unknown field "rule"`},
		{`{"rules": {}}`, `rules`},
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

func TestFirstMatchingRuleDecides(t *testing.T) {
	const policy = `{
	  "rules": [
	    {"name": "trusted-orders", "action": "allow", "match": {"service": {"exact": "org.example.Orders"}, "headers": [{"name": "x-caller", "exact": "trusted"}]}},
	    {"name": "orders", "action": "deny", "match": {"service": {"exact": "org.example.Orders"}}},
	    {"name": "no-admin", "action": "deny", "match": {"method": {"prefix": "admin"}}},
	    {"name": "thrift-only", "action": "deny", "match": {"protocols": ["thrift"], "service": {"exact": "Calculator"}}}
	  ]
	}`
	cases := []struct {
		name     string
		defaults string // default_action, "" for the default
		req      *filtertest.Request
		rule     string
		allowed  bool
	}{
		{"earlier allow wins over a later deny", "", dubboReq("org.example.Orders", "place", "x-caller", "trusted"), "trusted-orders", true},
		{"first matching deny", "", dubboReq("org.example.Orders", "place"), "orders", false},
		{"an earlier rule shadows a later one", "", dubboReq("org.example.Orders", "adminReset"), "orders", false},
		{"later rule when earlier ones miss", "", dubboReq("org.example.Users", "adminReset"), "no-admin", false},
		{"protocol condition", "", thriftReq("Calculator", "add"), "thrift-only", false},
		{"protocol condition miss", "", dubboReq("Calculator", "add"), DefaultRuleName, true},
		{"default is allow", "", dubboReq("org.example.Users", "get"), DefaultRuleName, true},
		{"default deny", "deny", dubboReq("org.example.Users", "get"), DefaultRuleName, false},
		{"rules still allow under default deny", "deny", dubboReq("org.example.Orders", "place", "x-caller", "trusted"), "trusted-orders", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := conf(t, policy)
			if tc.defaults != "" {
				m["default_action"] = tc.defaults
			}
			fac, err := CreateFilterFactory(m)
			require.NoError(t, err)
			f := fac.(*Factory)
			rule, allowed := f.Decide(tc.req, nil)
			assert.Equal(t, tc.rule, rule)
			assert.Equal(t, tc.allowed, allowed)

			// The filter agrees with Decide.
			h := &filtertest.Handler{}
			ctx := variable.NewVariableContext(context.Background())
			st := newFilter(f, h).OnReceive(ctx, tc.req, nil, nil)
			if tc.allowed {
				assert.Equal(t, api.StreamFilterContinue, st)
				assert.Empty(t, h.Hijacked())
				assert.Nil(t, rpcmeta.GetLocalReply(ctx))
			} else {
				assert.Equal(t, api.StreamFilterStop, st)
				assert.Equal(t, []int{api.PermissionDeniedCode}, h.Hijacked())
			}
		})
	}
}

func TestSourceAddressRules(t *testing.T) {
	f := newFactory(t, `{
	  "default_action": "deny",
	  "rules": [
	    {"name": "blocked-host", "action": "deny", "match": {"source_ips": ["10.1.2.3"]}},
	    {"name": "office", "action": "allow", "match": {"source_ips": ["10.1.0.0/16", "2001:db8::/32"]}}
	  ]
	}`)
	cases := []struct {
		name    string
		handler api.StreamReceiverFilterHandler
		rule    string
		allowed bool
	}{
		{"inside the CIDR", handlerFrom("10.1.7.7"), "office", true},
		{"single address denied before the CIDR allows", handlerFrom("10.1.2.3"), "blocked-host", false},
		{"IPv6 CIDR", handlerFrom("2001:db8::1"), "office", true},
		{"IPv4-mapped IPv6 counts as IPv4", handlerFrom("::ffff:10.1.7.7"), "office", true},
		{"outside", handlerFrom("192.0.2.1"), DefaultRuleName, false},
		{"no connection: source rules cannot match", &filtertest.Handler{}, DefaultRuleName, false},
		{"no handler", nil, DefaultRuleName, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flt := newFilter(f, tc.handler)
			rule, allowed := f.Decide(dubboReq("S", "m"), rpcmatch.Source(flt.handler))
			assert.Equal(t, tc.rule, rule)
			assert.Equal(t, tc.allowed, allowed)
			want := api.StreamFilterContinue
			if !tc.allowed {
				want = api.StreamFilterStop // even without a handler to answer
			}
			assert.Equal(t, want, flt.OnReceive(variable.NewVariableContext(context.Background()), dubboReq("S", "m"), nil, nil))
		})
	}
}

func TestDenialAnswersWithTheConfiguredError(t *testing.T) {
	cases := []struct {
		name       string
		denyError  string
		req        *filtertest.Request
		wantCode   int
		wantNative uint32
		hasNative  bool
		wantMsg    string
	}{
		{
			name:     "defaults: 403, message names the rule, codec maps the code",
			req:      dubboReq("org.example.Orders", "place"),
			wantCode: 403,
			wantMsg:  `meshproto: access denied by rule "deny-orders" (service org.example.Orders, method place)`,
		},
		{
			name:       "configured status, message and native code for the request's protocol",
			denyError:  `{"http_status": 401, "message": "not for you", "native": {"dubbo": 40, "thrift": 1}}`,
			req:        thriftReq("org.example.Orders", "place"),
			wantCode:   401,
			wantNative: 1,
			hasNative:  true,
			wantMsg:    "not for you",
		},
		{
			name:      "native for another protocol only",
			denyError: `{"native": {"thrift": 1}}`,
			req:       dubboReq("org.example.Orders", "place"),
			wantCode:  403,
			wantMsg:   `meshproto: access denied by rule "deny-orders" (service org.example.Orders, method place)`,
		},
		{
			name:     "default action",
			req:      dubboReq("org.example.Users", "get"),
			wantCode: 403,
			wantMsg:  "meshproto: access denied by default_action (service org.example.Users, method get)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := conf(t, `{"default_action": "deny", "rules": [
				{"name": "users", "action": "allow", "match": {"service": {"exact": "org.example.Users"}, "method": {"exact": "list"}}},
				{"name": "deny-orders", "action": "deny", "match": {"service": {"exact": "org.example.Orders"}}}]}`)
			if tc.denyError != "" {
				m["deny_error"] = conf(t, tc.denyError)
			}
			fac, err := CreateFilterFactory(m)
			require.NoError(t, err)
			h := &filtertest.Handler{}
			ctx := variable.NewVariableContext(context.Background())
			assert.Equal(t, api.StreamFilterStop, newFilter(fac.(*Factory), h).OnReceive(ctx, tc.req, nil, nil))
			assert.Equal(t, []int{tc.wantCode}, h.Hijacked())
			assert.Same(t, tc.req, h.LastHijackHeaders(), "the request goes to the codec's Hijack")
			lr := rpcmeta.GetLocalReply(ctx)
			require.NotNil(t, lr)
			assert.Equal(t, tc.hasNative, lr.HasNative)
			assert.Equal(t, tc.wantNative, lr.Native)
			assert.Equal(t, tc.wantMsg, lr.Message)
		})
	}
}

func TestCountersPerRule(t *testing.T) {
	// Rule names unique to this test: MOSN's metrics are process-wide.
	const js = `{"rules": [
	  {"name": "count-allow", "action": "allow", "match": {"method": {"exact": "ok"}}},
	  {"name": "count-deny", "action": "deny", "match": {"method": {"exact": "no"}}},
	  {"name": "count-unused", "action": "deny", "match": {"method": {"exact": "never"}}}
	]}`
	f := newFactory(t, js)
	allowBefore, denyBefore, defBefore := mosnCount("count-allow", Allow), mosnCount("count-deny", Deny), mosnCount(DefaultRuleName, Allow)
	ctx := variable.NewVariableContext(context.Background())
	for _, method := range []string{"ok", "no", "ok", "other", "no", "ok"} {
		newFilter(f, &filtertest.Handler{}).OnReceive(ctx, dubboReq("S", method), nil, nil)
	}
	// Other traffic is neither judged nor counted.
	assert.Equal(t, api.StreamFilterContinue, newFilter(f, &filtertest.Handler{}).OnReceive(ctx, protocol.CommonHeader{"x-rpc-method": "no"}, nil, nil))

	assert.Equal(t, []RuleStats{
		{Rule: "count-allow", Action: Allow, Requests: 3},
		{Rule: "count-deny", Action: Deny, Requests: 2},
		{Rule: "count-unused", Action: Deny, Requests: 0},
		{Rule: DefaultRuleName, Action: Allow, Requests: 1},
	}, f.Stats())
	assert.Equal(t, allowBefore+3, mosnCount("count-allow", Allow))
	assert.Equal(t, denyBefore+2, mosnCount("count-deny", Deny))
	assert.Equal(t, defBefore+1, mosnCount(DefaultRuleName, Allow))

	// A reload with the same rules keeps the MOSN counter (monotonic for
	// Prometheus); the new factory's own Stats start at zero.
	f2 := newFactory(t, js)
	newFilter(f2, &filtertest.Handler{}).OnReceive(ctx, dubboReq("S", "no"), nil, nil)
	assert.Equal(t, denyBefore+3, mosnCount("count-deny", Deny))
	assert.Equal(t, uint64(1), f2.Stats()[1].Requests)
	assert.Equal(t, uint64(2), f.Stats()[1].Requests)
}

func TestMOSNMetricIsRegisteredAtConfigTime(t *testing.T) {
	newFactory(t, `{"default_action": "deny", "rules": [{"name": "registered-early", "action": "allow", "match": {}}]}`)
	var names []string
	for _, m := range metrics.GetAll() {
		if m.Type() != MetricType {
			continue
		}
		labels := m.Labels()
		m.Each(func(key string, _ interface{}) {
			names = append(names, labels["rule"]+"/"+labels["action"]+"/"+key)
		})
	}
	assert.Contains(t, names, "registered-early/allow/requests")
	assert.Contains(t, names, "default/deny/requests")
}

func TestConcurrentStreams(t *testing.T) {
	f := newFactory(t, `{"rules": [{"name": "concurrent-deny", "action": "deny", "match": {"method": {"exact": "no"}}}]}`)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				var c filtertest.ReceiverCallbacks
				f.CreateFilterChain(context.Background(), &c)
				flt := c.Receivers[0]
				flt.SetReceiveFilterHandler(&filtertest.Handler{})
				method := "ok"
				if i%2 == 0 {
					method = "no"
				}
				flt.OnReceive(variable.NewVariableContext(context.Background()), dubboReq("S", method), nil, nil)
				flt.OnDestroy()
			}
		}()
	}
	wg.Wait()
	stats := f.Stats()
	assert.Equal(t, uint64(800), stats[0].Requests)
	assert.Equal(t, uint64(800), stats[1].Requests)
}

func TestFilterChainRunsBeforeRoute(t *testing.T) {
	f := newFactory(t, `{}`)
	cb := &filtertest.ReceiverCallbacks{}
	f.CreateFilterChain(context.Background(), cb)
	assert.Equal(t, []api.ReceiverFilterPhase{api.BeforeRoute}, cb.Phases)
	flt := cb.Receivers[0]
	flt.SetReceiveFilterHandler(&filtertest.Handler{})
	assert.Equal(t, api.StreamFilterContinue, flt.OnReceive(variable.NewVariableContext(context.Background()), dubboReq("S", "m"), nil, nil))
	flt.OnDestroy()
}

func TestRegisteredUnderItsName(t *testing.T) {
	fac, err := api.CreateStreamFilterChainFactory(FilterName, map[string]interface{}{})
	require.NoError(t, err)
	assert.IsType(t, &Factory{}, fac)
}

func TestAllowedRequestsDoNotAllocate(t *testing.T) {
	f := newFactory(t, `{"rules": [
	  {"name": "alloc-deny", "action": "deny", "match": {"service": {"exact": "Other"}, "source_ips": ["192.0.2.0/24"]}},
	  {"name": "alloc-allow", "action": "allow", "match": {"method": {"prefix": "get"}, "headers": [{"name": "x-tag", "exact": "gray"}]}}
	]}`)
	flt := newFilter(f, handlerFrom("10.0.0.1"))
	ctx := variable.NewVariableContext(context.Background())
	req := dubboReq("S", "getUser", "x-tag", "gray")
	assert.Zero(t, testing.AllocsPerRun(100, func() {
		if flt.OnReceive(ctx, req, nil, nil) != api.StreamFilterContinue {
			t.Fatal("denied")
		}
	}))
}
