package ratelimit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/protocol"
	"mosn.io/pkg/variable"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/filtertest"
)

// fakeRequest also answers the reserved keys from the frame, as codecs do.
type fakeRequest struct{ filtertest.Request }

func (r *fakeRequest) Get(k string) (string, bool) {
	switch k {
	case rpcmeta.KeyProtocol:
		return r.Proto, true
	case rpcmeta.KeyService:
		return r.Svc, true
	case rpcmeta.KeyMethod:
		return r.Meth, true
	}
	return r.CommonHeader.Get(k)
}

var (
	_ rpcmeta.Request = (*fakeRequest)(nil)
	_ rpcmeta.Invalid = (*fakeRequest)(nil)
)

// req makes a Dubbo request; headers are name, value pairs.
func req(service, method string, headers ...string) *fakeRequest {
	return &fakeRequest{*filtertest.NewRequest("dubbo", service, method, headers...)}
}

// fakeClock only moves when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newFactory builds a Factory from JSON on a fake clock.
func newFactory(t testing.TB, js string) (*Factory, *fakeClock) {
	t.Helper()
	var conf map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(js), &conf))
	fac, err := CreateFilterFactory(conf)
	require.NoError(t, err)
	f := fac.(*Factory)
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	f.setClock(clock.Now)
	return f, clock
}

// result is what one request got: 0 when let on, else the hijack code.
type result struct {
	code  int
	reply *rpcmeta.LocalReply
	flags int64
}

// send runs one request through a fresh stream, as MOSN would.
func send(f *Factory, headers api.HeaderMap, conn api.Connection) result {
	cb := &filtertest.ReceiverCallbacks{}
	f.CreateFilterChain(context.Background(), cb)
	info := &filtertest.RequestInfo{}
	h := &filtertest.Handler{Conn: conn, Info: info}
	fl := cb.Receiver()
	fl.SetReceiveFilterHandler(h)
	ctx := variable.NewVariableContext(context.Background())
	status := fl.OnReceive(ctx, headers, nil, nil)
	fl.OnDestroy()
	hijacks := h.Hijacked()
	switch {
	case status == api.StreamFilterContinue && len(hijacks) == 0:
		return result{}
	case status == api.StreamFilterStop && len(hijacks) == 1:
		return result{code: hijacks[0], reply: rpcmeta.GetLocalReply(ctx), flags: info.Flags()}
	}
	panic(fmt.Sprintf("status %s with hijacks %v", status, hijacks))
}

// codes sends n copies of r and returns what each got.
func codes(f *Factory, r api.HeaderMap, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = send(f, r, nil).code
	}
	return out
}

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, js, want string
	}{
		{"no rules", `{}`, "rules: missing"},
		{"empty rules", `{"rules": []}`, "rules: missing"},
		{"qps missing", `{"rules": [{"burst": 3}]}`, "rules[0].qps 0: want 0.001..1e+09"},
		{"qps negative", `{"rules": [{"qps": -5}]}`, "rules[0].qps -5"},
		{"qps too small", `{"rules": [{"qps": 0.0001}]}`, "rules[0].qps 0.0001"},
		{"qps too big", `{"rules": [{"qps": 2e9}]}`, "rules[0].qps 2e+09"},
		{"qps a string", `{"rules": [{"qps": "100"}]}`, "rules.qps"},
		{"burst negative", `{"rules": [{"qps": 10, "burst": -1}]}`, "rules[0].burst -1: want 1.."},
		{"burst too big", `{"rules": [{"qps": 10, "burst": 2000000000}]}`, "rules[0].burst 2000000000"},
		{"unknown key", `{"rules": [{"qps": 10, "key": "tenant"}]}`, `rules[0].key "tenant": want "", "service", "service_method" or "header:NAME"`},
		{"header key without name", `{"rules": [{"qps": 10, "key": "header:"}]}`, `rules[0].key "header:"`},
		{"max_keys without key", `{"rules": [{"qps": 10, "max_keys": 5}]}`, "rules[0].max_keys 5: only for a rule with a key"},
		{"max_keys negative", `{"rules": [{"qps": 10, "key": "service", "max_keys": -1}]}`, "rules[0].max_keys -1: want 1..10000000"},
		{"max_keys too big", `{"rules": [{"qps": 10, "key": "service", "max_keys": 20000000}]}`, "rules[0].max_keys 20000000"},
		{"error status", `{"rules": [{"qps": 10, "error": {"http_status": 42}}]}`, "rules[0].error.http_status 42"},
		{"error native", `{"rules": [{"qps": 10, "error": {"native": {"dubbo": 0}}}]}`, "rules[0].error.native.dubbo 0"},
		{"second rule's match", `{"rules": [{"qps": 10}, {"qps": 10, "match": {"method": {"regex": "("}}}]}`, `rules[1].match.method.regex "("`},
		{"unknown field", `{"rules": [{"qsp": 10}]}`, `unknown field "qsp"`},
		{"unknown match field", `{"rules": [{"qps": 10, "match": {"services": {}}}]}`, `unknown field "services"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var conf map[string]interface{}
			require.NoError(t, json.Unmarshal([]byte(tc.js), &conf))
			_, err := CreateFilterFactory(conf)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Contains(t, err.Error(), FilterName+": config: ")
		})
	}
}

func TestDefaults(t *testing.T) {
	cases := []struct {
		name      string
		rule      string
		burst     int64
		interval  time.Duration
		keyed     bool
		maxKeys   int64
		errConfig rpcmeta.ErrorConfig
	}{
		{"burst is qps", `{"qps": 100}`, 100, 10 * time.Millisecond, false, 0, rpcmeta.ErrorConfig{HTTPStatus: 429}},
		{"burst at least 1", `{"qps": 0.5}`, 1, 2 * time.Second, false, 0, rpcmeta.ErrorConfig{HTTPStatus: 429}},
		{"fractional qps rounds down", `{"qps": 2.5}`, 2, 400 * time.Millisecond, false, 0, rpcmeta.ErrorConfig{HTTPStatus: 429}},
		{"explicit burst", `{"qps": 100, "burst": 7}`, 7, 10 * time.Millisecond, false, 0, rpcmeta.ErrorConfig{HTTPStatus: 429}},
		{"keyed: max_keys", `{"qps": 1, "key": "service"}`, 1, time.Second, true, DefaultMaxKeys, rpcmeta.ErrorConfig{HTTPStatus: 429}},
		{"error kept", `{"qps": 1, "key": "header:x", "max_keys": 3, "error": {"http_status": 503, "message": "m"}}`, 1, time.Second, true, 3, rpcmeta.ErrorConfig{HTTPStatus: 503, Message: "m"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newFactory(t, `{"rules": [`+tc.rule+`]}`)
			r := f.rules[0]
			assert.Equal(t, int64(tc.interval), r.interval)
			assert.Equal(t, tc.burst*int64(tc.interval), r.limit)
			assert.Equal(t, tc.keyed, r.keys != nil)
			assert.Equal(t, !tc.keyed, r.single != nil)
			if tc.keyed {
				assert.Equal(t, tc.maxKeys, r.keys.max)
			}
			assert.Equal(t, tc.errConfig, r.errCfg)
		})
	}
}

func TestRegistered(t *testing.T) {
	fac, err := api.CreateStreamFilterChainFactory(FilterName, map[string]interface{}{"rules": []interface{}{map[string]interface{}{"qps": 1}}})
	require.NoError(t, err)
	assert.IsType(t, &Factory{}, fac)
	cb := &filtertest.ReceiverCallbacks{}
	fac.CreateFilterChain(context.Background(), cb)
	assert.Equal(t, api.BeforeRoute, cb.Phase())
}

func TestBurstThenRejectThenRefill(t *testing.T) {
	f, clock := newFactory(t, `{"rules": [{"qps": 10, "burst": 3}]}`)
	r := req("svc", "m")
	assert.Equal(t, []int{0, 0, 0, 429, 429}, codes(f, r, 5), "burst, then rejected")

	clock.Advance(99 * time.Millisecond)
	assert.Equal(t, []int{429}, codes(f, r, 1), "a token takes 100ms")
	clock.Advance(time.Millisecond)
	assert.Equal(t, []int{0, 429}, codes(f, r, 2), "one token after 100ms")

	clock.Advance(250 * time.Millisecond)
	assert.Equal(t, []int{0, 0, 429}, codes(f, r, 3), "2.5 tokens refilled: two requests")
	clock.Advance(50 * time.Millisecond)
	assert.Equal(t, []int{0, 429}, codes(f, r, 2), "the half token was kept")

	clock.Advance(time.Hour)
	assert.Equal(t, []int{0, 0, 0, 429}, codes(f, r, 4), "never more than burst")

	// Steady state: exactly qps.
	clock.Advance(time.Hour)
	codes(f, r, 3)
	allowed := 0
	for i := 0; i < 100; i++ {
		clock.Advance(10 * time.Millisecond)
		if send(f, r, nil).code == 0 {
			allowed++
		}
	}
	assert.Equal(t, 10, allowed, "one second at 10 qps")
	assert.Equal(t, uint64(7+90), f.Stats().Limited)
}

func TestRejectAnswer(t *testing.T) {
	cases := []struct {
		name string
		rule string
		req  *fakeRequest
		code int
		want rpcmeta.LocalReply
	}{
		{"default, no key", `{"qps": 1}`, req("svc", "m"), 429,
			rpcmeta.LocalReply{Message: "meshproto: rate limited (rules[0])"}},
		{"default, service key", `{"qps": 1, "key": "service"}`, req("org.example.Greeter", "m"), 429,
			rpcmeta.LocalReply{Message: `meshproto: rate limited (rules[0], service "org.example.Greeter")`}},
		{"default, service_method key", `{"qps": 1, "key": "service_method"}`, req("svc", "greet"), 429,
			rpcmeta.LocalReply{Message: `meshproto: rate limited (rules[0], service "svc" method "greet")`}},
		{"default, header key", `{"qps": 1, "key": "header:tenant"}`, req("svc", "m", "tenant", "t1"), 429,
			rpcmeta.LocalReply{Message: `meshproto: rate limited (rules[0], tenant "t1")`}},
		{"long header value is cut", `{"qps": 1, "key": "header:tenant"}`, req("svc", "m", "tenant", strings.Repeat("x", 100)), 429,
			rpcmeta.LocalReply{Message: `meshproto: rate limited (rules[0], tenant "` + strings.Repeat("x", 64) + `...")`}},
		{"configured, dubbo", `{"qps": 1, "key": "service", "error": {"http_status": 503, "message": "slow down", "native": {"dubbo": 100, "thrift": 6}}}`,
			req("svc", "m"), 503, rpcmeta.LocalReply{Native: 100, HasNative: true, Message: "slow down"}},
		{"configured, thrift", `{"qps": 1, "error": {"native": {"dubbo": 100, "thrift": 6}}}`,
			&fakeRequest{filtertest.Request{CommonHeader: protocol.CommonHeader{}, Proto: "thrift", Svc: "Calc", Meth: "add"}}, 429,
			rpcmeta.LocalReply{Native: 6, HasNative: true, Message: "meshproto: rate limited (rules[0])"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newFactory(t, `{"rules": [`+tc.rule+`]}`)
			require.Equal(t, 0, send(f, tc.req, nil).code)
			res := send(f, tc.req, nil)
			assert.Equal(t, tc.code, res.code)
			require.NotNil(t, res.reply)
			assert.Equal(t, tc.want, *res.reply)
			assert.Equal(t, int64(api.RateLimited), res.flags)
		})
	}
}

func TestFirstMatchingRuleDecides(t *testing.T) {
	f, _ := newFactory(t, `{"rules": [
		{"match": {"method": {"exact": "slow"}}, "qps": 1, "burst": 1, "error": {"http_status": 503}},
		{"match": {"service": {"exact": "svc"}}, "qps": 1, "burst": 2},
		{"match": {"source_ips": ["10.0.0.0/8"]}, "qps": 1, "burst": 1, "error": {"http_status": 403}}
	]}`)
	inside := &filtertest.Conn{Addr: &net.TCPAddr{IP: net.ParseIP("10.9.9.9"), Port: 1}}
	steps := []struct {
		name    string
		headers api.HeaderMap
		conn    api.Connection
		want    int
	}{
		{"rule 0", req("svc", "slow"), nil, 0},
		{"rule 0 decides, though rule 1 has tokens", req("svc", "slow"), nil, 503},
		{"rule 1", req("svc", "fast"), nil, 0},
		{"rule 1 again", req("svc", "fast"), nil, 0},
		{"rule 1 empty", req("svc", "fast"), nil, 429},
		{"no rule matches: never limited", req("other", "fast"), nil, 0},
		{"no rule matches, again", req("other", "fast"), nil, 0},
		{"rule 2 by source", req("other", "fast"), inside, 0},
		{"rule 2 empty", req("other", "fast"), inside, 403},
		{"not a meshproto request", protocol.CommonHeader{"x-rpc-method": "slow"}, nil, 0},
		{"unreadable request is left to meshproto_metadata", &fakeRequest{filtertest.Request{CommonHeader: protocol.CommonHeader{}, Proto: "dubbo", Svc: "svc", Meth: "slow", DecodeErr: errors.New("bad")}}, nil, 0},
	}
	for _, s := range steps {
		assert.Equal(t, s.want, send(f, s.headers, s.conn).code, s.name)
	}
	st := f.Stats()
	assert.Equal(t, uint64(3), st.Limited)
	assert.Equal(t, []RuleStats{{Limited: 1}, {Limited: 1}, {Limited: 1}}, st.Rules)
}

func TestPerKeyBuckets(t *testing.T) {
	cases := []struct {
		name  string
		key   string
		a, b  *fakeRequest // different keys
		sameA *fakeRequest // same key as a
	}{
		{"service", "service", req("svc.A", "m"), req("svc.B", "m"), req("svc.A", "other")},
		{"service_method", "service_method", req("svc", "a"), req("svc", "b"), req("svc", "a", "x", "y")},
		{"service_method separator", "service_method", req("ab", "c"), req("a", "bc"), req("ab", "c")},
		{"header", "header:tenant", req("svc", "m", "tenant", "t1"), req("svc", "m", "tenant", "t2"), req("other", "x", "tenant", "t1")},
		{"header absent is the empty value", "header:tenant", req("svc", "m"), req("svc", "m", "tenant", "t1"), req("svc", "m", "tenant", "")},
		{"reserved header", "header:x-rpc-service", req("svc.A", "m"), req("svc.B", "m"), req("svc.A", "n")},
		{"no key: one bucket", "", req("svc.A", "m"), nil, req("svc.B", "n")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newFactory(t, fmt.Sprintf(`{"rules": [{"qps": 1, "burst": 2, "key": %q}]}`, tc.key))
			assert.Equal(t, []int{0, 0}, []int{send(f, tc.a, nil).code, send(f, tc.sameA, nil).code})
			assert.Equal(t, 429, send(f, tc.a, nil).code)
			assert.Equal(t, 429, send(f, tc.sameA, nil).code)
			if tc.b != nil {
				assert.Equal(t, []int{0, 0, 429}, codes(f, tc.b, 3), "another key has its own bucket")
				assert.Equal(t, 2, f.Stats().Rules[0].Keys)
			}
		})
	}
}

func TestMaxKeysOverflow(t *testing.T) {
	f, clock := newFactory(t, `{"rules": [{"qps": 1, "burst": 1, "key": "header:tenant", "max_keys": 2}]}`)
	t1, t2 := req("s", "m", "tenant", "t1"), req("s", "m", "tenant", "t2")
	t3, t4 := req("s", "m", "tenant", "t3"), req("s", "m", "tenant", "t4")
	assert.Equal(t, 0, send(f, t1, nil).code)
	assert.Equal(t, 0, send(f, t2, nil).code)

	// t3 and t4 share the overflow bucket (burst 1).
	assert.Equal(t, 0, send(f, t3, nil).code)
	res := send(f, t4, nil)
	assert.Equal(t, 429, res.code)
	assert.Equal(t, "meshproto: rate limited (rules[0], overflow bucket shared by keys beyond max_keys 2)", res.reply.Message)
	// t1 still has its own.
	assert.Equal(t, 429, send(f, t1, nil).code)
	assert.Equal(t, RuleStats{Limited: 2, Overflowed: 2, Keys: 2}, f.Stats().Rules[0])

	// A flood of new keys does not grow the table.
	for i := 0; i < 1000; i++ {
		send(f, req("s", "m", "tenant", fmt.Sprint("flood-", i)), nil)
	}
	assert.Equal(t, 2, f.Stats().Rules[0].Keys)

	// Once t1 and t2 are idle (full again), new keys reclaim their room.
	clock.Advance(2 * time.Second)
	assert.Equal(t, 0, send(f, t3, nil).code)
	assert.Equal(t, 429, send(f, t3, nil).code, "t3 has a bucket of its own now")
	assert.Equal(t, 0, send(f, t4, nil).code)
	assert.Equal(t, 429, send(f, t4, nil).code, "t4 too")
	assert.Equal(t, 2, f.Stats().Rules[0].Keys)
	assert.Equal(t, uint64(1002), f.Stats().Rules[0].Overflowed, "t3, t4 and the flood")

	// Full again, with busy keys: the next key overflows.
	t5, t6 := req("s", "m", "tenant", "t5"), req("s", "m", "tenant", "t6")
	assert.Equal(t, 0, send(f, t5, nil).code)
	assert.Equal(t, 429, send(f, t6, nil).code)
	assert.Equal(t, RuleStats{Limited: 1005, Overflowed: 1004, Keys: 2}, f.Stats().Rules[0])
}

func TestBusyKeysAreNotReclaimed(t *testing.T) {
	f, clock := newFactory(t, `{"rules": [{"qps": 1, "burst": 5, "key": "service", "max_keys": 1}]}`)
	a, b := req("A", "m"), req("B", "m")
	assert.Equal(t, []int{0, 0, 0, 0, 0, 429}, codes(f, a, 6))
	clock.Advance(2 * time.Second) // A has 2 of 5 tokens: not idle
	assert.Equal(t, []int{0, 0, 0, 0, 0, 429}, codes(f, b, 6), "B overflows")
	assert.Equal(t, []int{0, 0, 429}, codes(f, a, 3), "A kept its bucket")
	assert.Equal(t, RuleStats{Limited: 3, Overflowed: 6, Keys: 1}, f.Stats().Rules[0])
}

// Many goroutines on one frozen instant: exactly burst get through.
func TestConcurrentUse(t *testing.T) {
	f, _ := newFactory(t, `{"rules": [
		{"match": {"service": {"exact": "one"}}, "qps": 10, "burst": 500},
		{"qps": 1, "burst": 3, "key": "header:tenant", "max_keys": 50}
	]}`)
	const workers, perWorker = 32, 200
	var allowed, tenantsAllowed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				if send(f, req("one", "m"), nil).code == 0 {
					allowed.Add(1)
				}
				// 100 tenants, max_keys 50.
				if send(f, req("two", "m", "tenant", fmt.Sprint((w*perWorker+i)%100)), nil).code == 0 {
					tenantsAllowed.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	assert.Equal(t, int64(500), allowed.Load())
	st := f.Stats()
	assert.Equal(t, uint64(workers*perWorker-500), st.Rules[0].Limited)
	// 50 own buckets and the overflow bucket, 3 tokens each: the clock
	// never moved, so no bucket was idle and none was reclaimed.
	assert.Equal(t, 50, st.Rules[1].Keys)
	assert.Equal(t, int64(3*51), tenantsAllowed.Load())
}

func TestNoAllocationsForAKnownKey(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, key := range []string{"", "service", "service_method", "header:tenant"} {
		t.Run(key, func(t *testing.T) {
			f, fl, ctx, r := benchSetup(t, key)
			_ = f
			require.Equal(t, api.StreamFilterContinue, fl.OnReceive(ctx, r, nil, nil))
			allocs := testing.AllocsPerRun(1000, func() {
				fl.OnReceive(ctx, r, nil, nil)
			})
			assert.Zero(t, allocs)
		})
	}
}

// benchSetup is one stream that is always allowed (a huge bucket on a
// frozen clock... that still refills at 1e9 qps).
func benchSetup(t testing.TB, key string) (*Factory, api.StreamReceiverFilter, context.Context, *fakeRequest) {
	js := fmt.Sprintf(`{"rules": [{"match": {"service": {"prefix": "org."}}, "qps": 1e9, "burst": 1000000000, "key": %q}]}`, key)
	f, err := CreateFilterFactory(mustJSON(t, js))
	require.NoError(t, err)
	cb := &filtertest.ReceiverCallbacks{}
	f.CreateFilterChain(context.Background(), cb)
	cb.Receiver().SetReceiveFilterHandler(&filtertest.Handler{Conn: filtertest.ConnFrom("127.0.0.1", 1), Info: &filtertest.RequestInfo{}})
	ctx := variable.NewVariableContext(context.Background())
	return f.(*Factory), cb.Receiver(), ctx, req("org.example.Greeter", "greet", "tenant", "t1")
}

func mustJSON(t testing.TB, js string) map[string]interface{} {
	var m map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(js), &m))
	return m
}

func BenchmarkKnownKey(b *testing.B) {
	for _, key := range []string{"", "service_method", "header:tenant"} {
		b.Run("key="+key, func(b *testing.B) {
			_, fl, ctx, r := benchSetup(b, key)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if fl.OnReceive(ctx, r, nil, nil) != api.StreamFilterContinue {
					b.Fatal("rejected")
				}
			}
		})
	}
}

func BenchmarkKnownKeyParallel(b *testing.B) {
	f, _, _, _ := benchSetup(b, "header:tenant")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		cb := &filtertest.ReceiverCallbacks{}
		f.CreateFilterChain(context.Background(), cb)
		fl := cb.Receiver()
		fl.SetReceiveFilterHandler(filtertest.NewHandler())
		ctx := variable.NewVariableContext(context.Background())
		reqs := []*fakeRequest{req("org.a", "m", "tenant", "t1"), req("org.a", "m", "tenant", "t2"), req("org.a", "m", "tenant", "t3")}
		i := 0
		for pb.Next() {
			fl.OnReceive(ctx, reqs[i%len(reqs)], nil, nil)
			i++
		}
	})
}
