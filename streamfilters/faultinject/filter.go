// Package faultinject is the meshproto_fault stream filter: it delays
// and/or aborts selected meshproto requests, so that an operator can test
// how callers cope with a slow or failing service. An abort is answered by
// the proxy with a protocol-native error (a Dubbo status, a Thrift
// TApplicationException), exactly as a real failure would be.
//
// It reads requests through rpcmeta.Request only, so it works for every
// meshproto protocol; other traffic, and requests the codec could not read
// (left to meshproto_metadata), pass untouched. It runs before routing.
//
// # How a delay waits
//
// MOSN v1.3.0 has no way for a receive filter to pause a stream and resume
// it later: returning api.StreamFilterStop without a reply only skips the
// remaining filters of the phase, and the request is forwarded at once (the
// handler has no ContinueReceiving). A delay therefore waits inside
// OnReceive, as MOSN's own fault filter does, but on a timer that
// OnDestroy cancels. Both meshproto codecs enable MOSN's worker pool, so
// the goroutine that waits runs this one stream's filters: the connection's
// reader and the other streams go on. max_active_delays bounds how many
// goroutines delays hold at once.
package faultinject

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_fault"

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
	xdsconf.Register(FilterName) // configurable from Istio (EnvoyFilter, TypedStruct)
}

// CreateFilterFactory parses the config; it is also the symbol a Go plugin
// build exports for MOSN's go_plugin_config. The factory it returns is a
// *Factory.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	cfg, err := parseConfig(conf)
	if err != nil {
		return nil, err
	}
	return &Factory{rules: cfg.rules, maxActive: cfg.maxActive, rand: rand.Float64, wait: timerWait}, nil
}

// Factory is the filter factory of one meshproto_fault config. Its
// counters are shared by every stream the config serves.
type Factory struct {
	rules     []rule
	maxActive int64
	active    atomic.Int64

	delays, delaysCancelled, delaysSkipped, aborts atomic.Uint64

	// rand returns a number in [0, 1); math/rand/v2's, safe for
	// concurrent use, unless a test replaces it.
	rand func() float64
	// wait blocks for d or until cancel is closed, and reports whether
	// d elapsed; a timer unless a test replaces it.
	wait func(d time.Duration, cancel <-chan struct{}) bool
}

// Stats counts what a Factory injected.
type Stats struct {
	// Delays is the number of delays started.
	Delays uint64
	// DelaysCancelled counts delays cut short because the stream was
	// destroyed; such a request is neither forwarded nor answered.
	DelaysCancelled uint64
	// DelaysSkipped counts delays not injected because max_active_delays
	// requests were already being delayed.
	DelaysSkipped uint64
	// Aborts is the number of requests answered with the abort error.
	Aborts uint64
}

// Stats returns the counters so far.
func (f *Factory) Stats() Stats {
	return Stats{
		Delays:          f.delays.Load(),
		DelaysCancelled: f.delaysCancelled.Load(),
		DelaysSkipped:   f.delaysSkipped.Load(),
		Aborts:          f.aborts.Load(),
	}
}

// CreateFilterChain adds a pooled per-stream filter before routing.
func (f *Factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	fl := filters.Get().(*filter)
	fl.factory = f
	callbacks.AddStreamReceiverFilter(fl, api.BeforeRoute)
}

// match returns the first rule whose match holds, or nil.
func (f *Factory) match(req rpcmeta.Request, src net.Addr) *rule {
	for i := range f.rules {
		if f.rules[i].match.Match(req, src) {
			return &f.rules[i]
		}
	}
	return nil
}

// roll reports whether an event of the given percentage happens.
func (f *Factory) roll(percent float64) bool {
	switch {
	case percent >= 100:
		return true
	case percent <= 0:
		return false
	}
	return f.rand()*100 < percent
}

// timerWait is the production wait.
func timerWait(d time.Duration, cancel <-chan struct{}) bool {
	t := time.NewTimer(d)
	select {
	case <-t.C:
		return true
	case <-cancel:
		t.Stop()
		return false
	}
}

// Delay states.
const (
	waiting int32 = iota
	resumed
	cancelled
)

// pendingDelay is one delay in progress. Whichever of the timer (the
// waiting OnReceive) and OnDestroy moves it out of waiting first decides
// whether the stream goes on.
type pendingDelay struct {
	state  atomic.Int32
	cancel chan struct{}
}

// filter is the per-stream filter, pooled.
type filter struct {
	factory *Factory
	handler api.StreamReceiverFilterHandler
	// pending is the delay in progress, read by OnDestroy (which may
	// run on another goroutine).
	pending atomic.Pointer[pendingDelay]
}

var filters = sync.Pool{New: func() interface{} { return new(filter) }}

func (fl *filter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { fl.handler = h }

// OnDestroy cancels a delay in progress, so the delayed OnReceive returns
// without touching the stream, and returns the filter to the pool.
// OnReceive never touches the filter once its delay has begun: it works on
// copies, so the filter may be reused at once.
func (fl *filter) OnDestroy() {
	if p := fl.pending.Swap(nil); p != nil && p.state.CompareAndSwap(waiting, cancelled) {
		close(p.cancel)
	}
	fl.factory = nil
	fl.handler = nil
	filters.Put(fl)
}

// OnReceive applies the first matching rule.
func (fl *filter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok || fl.handler == nil || fl.factory == nil {
		return api.StreamFilterContinue
	}
	if inv, ok := headers.(rpcmeta.Invalid); ok && inv.DecodeError() != nil {
		return api.StreamFilterContinue
	}
	f, h := fl.factory, fl.handler
	r := f.match(req, rpcmatch.Source(h))
	if r == nil {
		return api.StreamFilterContinue
	}
	delay := r.delay > 0 && f.roll(r.delayPct)
	abort := r.abort && f.roll(r.abortPct)
	if delay {
		if !f.delay(ctx, fl, h, r) {
			// The stream was destroyed while it waited.
			return api.StreamFilterStop
		}
	}
	if !abort {
		return api.StreamFilterContinue
	}
	f.aborts.Add(1)
	if log.Proxy.GetLogLevel() >= log.DEBUG {
		log.Proxy.Debugf(ctx, "[%s] rules[%d]: aborting %s %s.%s", FilterName, r.index, req.RPCProtocol(), req.Service(), req.Method())
	}
	if info := h.RequestInfo(); info != nil {
		info.SetResponseFlag(api.FaultInjected)
	}
	rpcmeta.Respond(ctx, h, req, r.abortErr, DefaultAbortStatus)
	return api.StreamFilterStop
}

// delay waits r.delay unless max_active_delays are already waiting, and
// reports whether the stream goes on (false: destroyed meanwhile). Once it
// starts waiting it never touches fl again.
func (f *Factory) delay(ctx context.Context, fl *filter, h api.StreamReceiverFilterHandler, r *rule) bool {
	if f.active.Add(1) > f.maxActive {
		f.active.Add(-1)
		f.delaysSkipped.Add(1)
		return true
	}
	defer f.active.Add(-1)
	f.delays.Add(1)
	if info := h.RequestInfo(); info != nil {
		info.SetResponseFlag(api.DelayInjected)
	}
	if log.Proxy.GetLogLevel() >= log.DEBUG {
		log.Proxy.Debugf(ctx, "[%s] rules[%d]: delaying a request by %v", FilterName, r.index, r.delay)
	}
	p := &pendingDelay{cancel: make(chan struct{})}
	fl.pending.Store(p)
	if f.wait(r.delay, p.cancel) && p.state.CompareAndSwap(waiting, resumed) {
		return true
	}
	f.delaysCancelled.Add(1)
	return false
}
