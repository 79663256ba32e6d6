package faultinject

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
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

func dubboReq(service, method string) *filtertest.Request {
	return filtertest.NewRequest("dubbo", service, method)
}

func thriftReq(service, method string) *filtertest.Request {
	return filtertest.NewRequest("thrift", service, method)
}

// newFactory builds a Factory from JSON, with randomness that never fires
// a fractional percentage and a wait that returns at once.
func newFactory(t *testing.T, js string) *Factory {
	t.Helper()
	var conf map[string]interface{}
	require.NoError(t, json.Unmarshal([]byte(js), &conf))
	fac, err := CreateFilterFactory(conf)
	require.NoError(t, err)
	f := fac.(*Factory)
	f.rand = func() float64 { t.Error("unexpected random roll"); return 0 }
	f.wait = func(time.Duration, <-chan struct{}) bool { return true }
	return f
}

// stream is one stream's filter as MOSN would set it up.
func stream(t *testing.T, f *Factory) (*filter, *filtertest.Handler) {
	t.Helper()
	cb := &filtertest.ReceiverCallbacks{}
	f.CreateFilterChain(context.Background(), cb)
	require.Len(t, cb.Receivers, 1)
	require.Equal(t, api.BeforeRoute, cb.Phases[0])
	h := filtertest.NewHandler()
	fl := cb.Receivers[0].(*filter)
	fl.SetReceiveFilterHandler(h)
	return fl, h
}

func newCtx() context.Context { return variable.NewVariableContext(context.Background()) }

func TestConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name, js, want string
	}{
		{"no rules", `{}`, "rules: missing"},
		{"empty rules", `{"rules": []}`, "rules: missing"},
		{"rule without fault", `{"rules": [{"match": {}}]}`, "rules[0]: want a delay, an abort or both"},
		{"delay without fixed", `{"rules": [{"delay": {"percent": 5}}]}`, "rules[0].delay.fixed: missing"},
		{"bad duration", `{"rules": [{"delay": {"fixed": "fast"}}]}`, `rules[0].delay.fixed "fast": want a positive duration`},
		{"negative duration", `{"rules": [{"delay": {"fixed": "-1s"}}]}`, `rules[0].delay.fixed "-1s"`},
		{"zero duration", `{"rules": [{"delay": {"fixed": "0s"}}]}`, `rules[0].delay.fixed "0s"`},
		{"delay percent too big", `{"rules": [{"delay": {"fixed": "1s", "percent": 101}}]}`, "rules[0].delay.percent 101: want 0..100"},
		{"abort percent negative", `{"rules": [{"abort": {"percent": -0.5}}]}`, "rules[0].abort.percent -0.5: want 0..100"},
		{"percent not a number", `{"rules": [{"abort": {"percent": "10%"}}]}`, "rules.abort.percent"},
		{"abort http status", `{"rules": [{"abort": {"error": {"http_status": 42}}}]}`, "rules[0].abort.error.http_status 42"},
		{"abort native dubbo", `{"rules": [{"abort": {"error": {"native": {"dubbo": 300}}}}]}`, "rules[0].abort.error.native.dubbo 300"},
		{"abort native thrift", `{"rules": [{"abort": {"error": {"native": {"thrift": 11}}}}]}`, "rules[0].abort.error.native.thrift 11"},
		{"second rule's match", `{"rules": [{"abort": {}}, {"match": {"service": {}}, "abort": {}}]}`, "rules[1].match.service: want exactly one"},
		{"bad source ip", `{"rules": [{"match": {"source_ips": ["10.0.0.300"]}, "abort": {}}]}`, `rules[0].match.source_ips[0] "10.0.0.300"`},
		{"unknown field", `{"rules": [{"dealy": {"fixed": "1s"}}]}`, `unknown field "dealy"`},
		{"unknown error field", `{"rules": [{"abort": {"error": {"code": 1}}}]}`, `unknown field "code"`},
		{"max active delays", `{"max_active_delays": -1, "rules": [{"abort": {}}]}`, "max_active_delays -1"},
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
	f := newFactory(t, `{"rules": [{"delay": {"fixed": "1.5s"}}, {"abort": {}}]}`)
	assert.Equal(t, int64(DefaultMaxActiveDelays), f.maxActive)
	require.Len(t, f.rules, 2)
	assert.Equal(t, 1500*time.Millisecond, f.rules[0].delay)
	assert.Equal(t, 100.0, f.rules[0].delayPct)
	assert.False(t, f.rules[0].abort)
	assert.True(t, f.rules[1].abort)
	assert.Equal(t, 100.0, f.rules[1].abortPct)
	assert.Equal(t, rpcmeta.ErrorConfig{HTTPStatus: 503, Message: "meshproto: fault injected (rules[1])"}, f.rules[1].abortErr)
}

func TestRegistered(t *testing.T) {
	fac, err := api.CreateStreamFilterChainFactory(FilterName, map[string]interface{}{"rules": []interface{}{map[string]interface{}{"abort": map[string]interface{}{}}}})
	require.NoError(t, err)
	assert.IsType(t, &Factory{}, fac)
}

func TestFirstMatchingRuleWins(t *testing.T) {
	f := newFactory(t, `{"rules": [
		{"match": {"service": {"exact": "svc.A"}, "method": {"exact": "slow"}}, "abort": {"error": {"http_status": 500}}},
		{"match": {"service": {"exact": "svc.A"}}, "abort": {"error": {"http_status": 502}}},
		{"match": {"protocols": ["thrift"]}, "abort": {"error": {"http_status": 504}}},
		{"match": {"source_ips": ["10.0.0.0/8"]}, "abort": {"error": {"http_status": 403}}}
	]}`)
	inside := &filtertest.Conn{Addr: &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 4000}}
	outside := &filtertest.Conn{Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 4000}}
	cases := []struct {
		name    string
		headers api.HeaderMap
		conn    api.Connection
		want    []int // hijack codes; nil: passed on
	}{
		{"first rule", dubboReq("svc.A", "slow"), nil, []int{500}},
		{"second rule", dubboReq("svc.A", "fast"), nil, []int{502}},
		{"protocol rule", thriftReq("svc.A", "slow"), nil, []int{500}},
		{"protocol rule, other service", thriftReq("Calc", "add"), nil, []int{504}},
		{"source rule", dubboReq("svc.B", "x"), inside, []int{403}},
		{"no rule: source outside", dubboReq("svc.B", "x"), outside, nil},
		{"no rule: unknown source", dubboReq("svc.B", "x"), nil, nil},
		{"not a meshproto request", protocol.CommonHeader{"x-rpc-service": "svc.A"}, nil, nil},
		{"unreadable request is left to meshproto_metadata", &filtertest.Request{CommonHeader: protocol.CommonHeader{}, Proto: "dubbo", Svc: "svc.A", Meth: "slow", DecodeErr: errors.New("bad hessian")}, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fl, h := stream(t, f)
			h.Conn = tc.conn
			status := fl.OnReceive(newCtx(), tc.headers, nil, nil)
			assert.Equal(t, tc.want, h.Hijacked())
			if tc.want == nil {
				assert.Equal(t, api.StreamFilterContinue, status)
			} else {
				assert.Equal(t, api.StreamFilterStop, status)
			}
			fl.OnDestroy()
		})
	}
}

func TestAbortAnswersNatively(t *testing.T) {
	cases := []struct {
		name     string
		js       string
		req      *filtertest.Request
		code     int
		native   uint32
		isNative bool
		message  string
	}{
		{"defaults: 503, codec maps it", `{"rules": [{"abort": {}}]}`, dubboReq("svc", "m"), 503, 0, false, "meshproto: fault injected (rules[0])"},
		{"dubbo native", `{"rules": [{"abort": {"error": {"http_status": 500, "message": "boom", "native": {"dubbo": 80, "thrift": 6}}}}]}`, dubboReq("svc", "m"), 500, 80, true, "boom"},
		{"thrift native", `{"rules": [{"abort": {"error": {"message": "boom", "native": {"dubbo": 80, "thrift": 1}}}}]}`, thriftReq("svc", "m"), 503, 1, true, "boom"},
		{"thrift native 0 (UNKNOWN)", `{"rules": [{"abort": {"error": {"native": {"thrift": 0}}}}]}`, thriftReq("svc", "m"), 503, 0, true, "meshproto: fault injected (rules[0])"},
		{"native for another protocol only", `{"rules": [{"abort": {"error": {"native": {"dubbo": 100}}}}]}`, thriftReq("svc", "m"), 503, 0, false, "meshproto: fault injected (rules[0])"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFactory(t, tc.js)
			fl, h := stream(t, f)
			ctx := newCtx()
			assert.Equal(t, api.StreamFilterStop, fl.OnReceive(ctx, tc.req, nil, nil))
			assert.Equal(t, []int{tc.code}, h.Hijacked())
			assert.Same(t, tc.req, h.HijackHeaders()[0])
			lr := rpcmeta.GetLocalReply(ctx)
			require.NotNil(t, lr)
			assert.Equal(t, rpcmeta.LocalReply{Native: tc.native, HasNative: tc.isNative, Message: tc.message}, *lr)
			assert.True(t, h.Info.GetResponseFlag(api.FaultInjected))
			assert.False(t, h.Info.GetResponseFlag(api.DelayInjected))
			assert.Equal(t, Stats{Aborts: 1}, f.Stats())
			fl.OnDestroy()
		})
	}
}

func TestPercentages(t *testing.T) {
	cases := []struct {
		name      string
		js        string
		rolls     []float64 // what rand returns, in order; all must be used
		wantDelay bool
		wantAbort bool
	}{
		{"abort 10%: roll 0.05 fires", `{"rules": [{"abort": {"percent": 10}}]}`, []float64{0.05}, false, true},
		{"abort 10%: roll 0.10 does not", `{"rules": [{"abort": {"percent": 10}}]}`, []float64{0.10}, false, false},
		{"fractional 12.5%: roll 0.124 fires", `{"rules": [{"abort": {"percent": 12.5}}]}`, []float64{0.124}, false, true},
		{"fractional 12.5%: roll 0.126 does not", `{"rules": [{"abort": {"percent": 12.5}}]}`, []float64{0.126}, false, false},
		{"0% never rolls", `{"rules": [{"abort": {"percent": 0}}]}`, nil, false, false},
		{"100% never rolls", `{"rules": [{"abort": {"percent": 100}}]}`, nil, false, true},
		{"delay and abort rolled independently: both", `{"rules": [{"delay": {"fixed": "1s", "percent": 50}, "abort": {"percent": 50}}]}`, []float64{0.2, 0.3}, true, true},
		{"delay only", `{"rules": [{"delay": {"fixed": "1s", "percent": 50}, "abort": {"percent": 50}}]}`, []float64{0.2, 0.7}, true, false},
		{"abort only", `{"rules": [{"delay": {"fixed": "1s", "percent": 50}, "abort": {"percent": 50}}]}`, []float64{0.7, 0.3}, false, true},
		{"neither", `{"rules": [{"delay": {"fixed": "1s", "percent": 50}, "abort": {"percent": 50}}]}`, []float64{0.5, 0.5}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFactory(t, tc.js)
			rolls := tc.rolls
			f.rand = func() float64 {
				require.NotEmpty(t, rolls, "more rolls than expected")
				v := rolls[0]
				rolls = rolls[1:]
				return v
			}
			var waited []time.Duration
			f.wait = func(d time.Duration, _ <-chan struct{}) bool { waited = append(waited, d); return true }
			fl, h := stream(t, f)
			status := fl.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil)
			assert.Empty(t, rolls, "rolls left over")
			if tc.wantDelay {
				assert.Equal(t, []time.Duration{time.Second}, waited)
			} else {
				assert.Empty(t, waited)
			}
			if tc.wantAbort {
				assert.Equal(t, api.StreamFilterStop, status)
				assert.Equal(t, []int{503}, h.Hijacked())
			} else {
				assert.Equal(t, api.StreamFilterContinue, status)
				assert.Empty(t, h.Hijacked())
			}
			assert.Equal(t, tc.wantDelay, h.Info.GetResponseFlag(api.DelayInjected))
			fl.OnDestroy()
		})
	}
}

// gate is a wait the test controls: it reports each wait on started and
// returns what release says, or false when the stream is destroyed.
type gate struct {
	started chan time.Duration
	release chan bool
	// ignoreCancel models a timer that fired just as OnDestroy ran.
	ignoreCancel bool
}

func newGate() *gate { return &gate{started: make(chan time.Duration, 8), release: make(chan bool)} }

func (g *gate) wait(d time.Duration, cancel <-chan struct{}) bool {
	g.started <- d
	if g.ignoreCancel {
		return <-g.release
	}
	select {
	case ok := <-g.release:
		return ok
	case <-cancel:
		return false
	}
}

func TestDelayThenContinueOrAbort(t *testing.T) {
	cases := []struct {
		name  string
		js    string
		want  api.StreamFilterStatus
		codes []int
	}{
		{"delay then forward", `{"rules": [{"delay": {"fixed": "200ms"}}]}`, api.StreamFilterContinue, nil},
		{"delay then abort", `{"rules": [{"delay": {"fixed": "200ms"}, "abort": {"error": {"http_status": 504}}}]}`, api.StreamFilterStop, []int{504}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFactory(t, tc.js)
			g := newGate()
			f.wait = g.wait
			fl, h := stream(t, f)
			done := make(chan api.StreamFilterStatus)
			go func() { done <- fl.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil) }()

			assert.Equal(t, 200*time.Millisecond, <-g.started)
			assert.Empty(t, h.Hijacked(), "nothing is answered during the delay")
			assert.Equal(t, Stats{Delays: 1}, f.Stats())
			assert.Equal(t, int64(1), f.active.Load())
			g.release <- true

			assert.Equal(t, tc.want, <-done)
			assert.Equal(t, tc.codes, h.Hijacked())
			assert.True(t, h.Info.GetResponseFlag(api.DelayInjected))
			assert.Equal(t, int64(0), f.active.Load())
			fl.OnDestroy()
		})
	}
}

func TestOnDestroyDuringDelay(t *testing.T) {
	for _, timerFired := range []bool{false, true} {
		name := "cancelled"
		if timerFired {
			name = "timer fired as the stream was destroyed"
		}
		t.Run(name, func(t *testing.T) {
			// The abort would fire after the delay: it must not, the
			// stream is gone.
			f := newFactory(t, `{"rules": [{"delay": {"fixed": "10s"}, "abort": {}}]}`)
			g := newGate()
			g.ignoreCancel = timerFired
			f.wait = g.wait
			fl, h := stream(t, f)
			done := make(chan api.StreamFilterStatus)
			go func() { done <- fl.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil) }()
			<-g.started

			fl.OnDestroy()
			// The pool may hand the filter to another stream at once.
			next, nextH := stream(t, f)
			_ = next
			if timerFired {
				g.release <- true
			}

			assert.Equal(t, api.StreamFilterStop, <-done)
			assert.Empty(t, h.Hijacked())
			assert.Empty(t, nextH.Hijacked())
			assert.Equal(t, Stats{Delays: 1, DelaysCancelled: 1}, f.Stats())
			assert.Equal(t, int64(0), f.active.Load())
			next.OnDestroy()
		})
	}
}

func TestTimerWait(t *testing.T) {
	assert.True(t, timerWait(time.Millisecond, make(chan struct{})))

	cancel := make(chan struct{})
	res := make(chan bool)
	start := time.Now()
	go func() { res <- timerWait(time.Hour, cancel) }()
	close(cancel)
	assert.False(t, <-res)
	assert.Less(t, time.Since(start), time.Minute)
}

// With the production wait, OnDestroy ends a long delay at once.
func TestOnDestroyStopsARealTimer(t *testing.T) {
	f := newFactory(t, `{"rules": [{"delay": {"fixed": "1h"}}]}`)
	f.wait = timerWait
	fl, h := stream(t, f)
	done := make(chan api.StreamFilterStatus)
	go func() { done <- fl.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil) }()
	require.Eventually(t, func() bool { return f.Stats().Delays == 1 }, 10*time.Second, time.Millisecond)
	fl.OnDestroy()
	select {
	case status := <-done:
		assert.Equal(t, api.StreamFilterStop, status)
	case <-time.After(10 * time.Second):
		t.Fatal("OnDestroy did not end the delay")
	}
	assert.Empty(t, h.Hijacked())
}

func TestMaxActiveDelays(t *testing.T) {
	f := newFactory(t, `{"max_active_delays": 1, "rules": [{"delay": {"fixed": "1s"}}]}`)
	g := newGate()
	f.wait = g.wait
	first, _ := stream(t, f)
	done := make(chan api.StreamFilterStatus)
	go func() { done <- first.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil) }()
	<-g.started

	// A second request is not delayed while the first waits.
	second, h2 := stream(t, f)
	assert.Equal(t, api.StreamFilterContinue, second.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil))
	assert.False(t, h2.Info.GetResponseFlag(api.DelayInjected))
	assert.Equal(t, Stats{Delays: 1, DelaysSkipped: 1}, f.Stats())
	second.OnDestroy()

	g.release <- true
	assert.Equal(t, api.StreamFilterContinue, <-done)
	first.OnDestroy()

	// Room again.
	third, _ := stream(t, f)
	go func() { done <- third.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil) }()
	<-g.started
	g.release <- true
	assert.Equal(t, api.StreamFilterContinue, <-done)
	assert.Equal(t, Stats{Delays: 2, DelaysSkipped: 1}, f.Stats())
	third.OnDestroy()
}

// Many streams at once, production randomness, under -race.
func TestConcurrentStreams(t *testing.T) {
	f := newFactory(t, `{"rules": [{"delay": {"fixed": "1ms", "percent": 50}, "abort": {"percent": 50}}]}`)
	f.rand = newFactoryRand()
	f.wait = timerWait
	var wg sync.WaitGroup
	var mu sync.Mutex
	aborted := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Not stream(): require must not run off the test goroutine.
			cb := &filtertest.ReceiverCallbacks{}
			f.CreateFilterChain(context.Background(), cb)
			fl, h := cb.Receivers[0].(*filter), filtertest.NewHandler()
			fl.SetReceiveFilterHandler(h)
			fl.OnReceive(newCtx(), dubboReq("svc", "m"), nil, nil)
			mu.Lock()
			aborted += len(h.Hijacked())
			mu.Unlock()
			fl.OnDestroy()
		}()
	}
	wg.Wait()
	s := f.Stats()
	assert.Equal(t, uint64(aborted), s.Aborts)
	assert.Equal(t, uint64(0), s.DelaysCancelled)
	assert.Equal(t, int64(0), f.active.Load())
}

// newFactoryRand is the randomness CreateFilterFactory installs.
func newFactoryRand() func() float64 {
	fac, _ := CreateFilterFactory(map[string]interface{}{"rules": []interface{}{map[string]interface{}{"abort": map[string]interface{}{}}}})
	return fac.(*Factory).rand
}
