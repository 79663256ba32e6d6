// Package ratelimit is the meshproto_ratelimit stream filter: local token
// bucket rate limiting of meshproto requests, per rule and per key (the
// service, the service and method, or a header / attachment value). A
// rejected request is answered by the proxy with a protocol-native error
// (a Dubbo status, a Thrift TApplicationException), so the client sees an
// ordinary RPC failure and the connection stays open.
//
// The buckets belong to the filter factory, that is to one listener's
// filter config: every connection and every worker goroutine of the
// listener shares them. A bucket is one atomic word; looking up the bucket
// of a known key takes a shard's read lock and allocates nothing.
//
// It reads requests through rpcmeta.Request only, so it works for every
// meshproto protocol; other traffic, and requests the codec could not read
// (left to meshproto_metadata), pass untouched and are not counted. It
// runs before routing, so a rejected request costs no route match and
// never reaches an upstream.
package ratelimit

import (
	"context"
	"net"
	"sync"
	"time"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_ratelimit"

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
	xdsconf.Register(FilterName) // configurable from Istio (EnvoyFilter, TypedStruct)
}

// CreateFilterFactory parses the config; it is also the symbol a Go plugin
// build exports for MOSN's go_plugin_config. The factory it returns is a
// *Factory, with empty (full) buckets.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	rules, err := parseConfig(conf)
	if err != nil {
		return nil, err
	}
	f := &Factory{rules: rules}
	f.setClock(time.Now)
	return f, nil
}

// Factory is the filter factory of one meshproto_ratelimit config; it owns
// the buckets.
type Factory struct {
	rules []*rule
	// now is the clock (time.Now unless a test sets another); base is
	// its reading when the factory was made. Buckets count nanoseconds
	// since base.
	now  func() time.Time
	base time.Time
}

func (f *Factory) setClock(now func() time.Time) {
	f.now, f.base = now, now()
}

func (f *Factory) nanotime() int64 { return int64(f.now().Sub(f.base)) }

// Stats is what a Factory's rules have done so far.
type Stats struct {
	// Limited is the number of requests rejected, all rules together.
	Limited uint64
	// Rules, in config order.
	Rules []RuleStats
}

// RuleStats is one rule's part of Stats.
type RuleStats struct {
	// Limited is the number of requests the rule rejected.
	Limited uint64
	// Overflowed is the number of requests that took their token from
	// the overflow bucket because max_keys keys had buckets.
	Overflowed uint64
	// Keys is the number of keys with a bucket of their own (0 for a
	// rule without a key).
	Keys int
}

// Stats returns the counters so far.
func (f *Factory) Stats() Stats {
	s := Stats{Rules: make([]RuleStats, len(f.rules))}
	for i, r := range f.rules {
		rs := RuleStats{Limited: r.limited.Load(), Overflowed: r.overflowed.Load()}
		if r.keys != nil {
			rs.Keys = r.keys.keys()
		}
		s.Limited += rs.Limited
		s.Rules[i] = rs
	}
	return s
}

// CreateFilterChain adds a pooled per-stream filter before routing.
func (f *Factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	fl := filters.Get().(*filter)
	fl.factory = f
	callbacks.AddStreamReceiverFilter(fl, api.BeforeRoute)
}

// match returns the first rule whose match holds, or nil.
func (f *Factory) match(req rpcmeta.Request, src net.Addr) *rule {
	for _, r := range f.rules {
		if r.match.Match(req, src) {
			return r
		}
	}
	return nil
}

// allow takes a token for req from the first matching rule. It returns
// the rule and bucket that refused it, or nil when req may go on.
func (f *Factory) allow(req rpcmeta.Request, src net.Addr) (*rule, *bucket) {
	r := f.match(req, src)
	if r == nil {
		return nil, nil
	}
	now := f.nanotime()
	b := r.bucket(req, now)
	if r.keys != nil && b == &r.keys.overflow {
		r.overflowed.Add(1)
	}
	if b.take(now, r.interval, r.limit) {
		return nil, nil
	}
	r.limited.Add(1)
	return r, b
}

// filter is the per-stream filter, pooled: it only carries the handler.
type filter struct {
	factory *Factory
	handler api.StreamReceiverFilterHandler
}

var filters = sync.Pool{New: func() interface{} { return new(filter) }}

func (fl *filter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { fl.handler = h }

func (fl *filter) OnDestroy() {
	fl.factory = nil
	fl.handler = nil
	filters.Put(fl)
}

// OnReceive lets the request on, or answers it with the rule's error.
func (fl *filter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok || fl.handler == nil || fl.factory == nil {
		return api.StreamFilterContinue
	}
	if inv, ok := headers.(rpcmeta.Invalid); ok && inv.DecodeError() != nil {
		return api.StreamFilterContinue
	}
	h := fl.handler
	r, b := fl.factory.allow(req, rpcmatch.Source(h))
	if r == nil {
		return api.StreamFilterContinue
	}
	if log.Proxy.GetLogLevel() >= log.DEBUG {
		log.Proxy.Debugf(ctx, "[%s] rules[%d]: rejecting %s %s.%s", FilterName, r.index, req.RPCProtocol(), req.Service(), req.Method())
	}
	if info := h.RequestInfo(); info != nil {
		info.SetResponseFlag(api.RateLimited)
	}
	ec := r.errCfg
	if !r.customMsg {
		ec.Message = b.msg
	}
	rpcmeta.Respond(ctx, h, req, ec, DefaultStatus)
	return api.StreamFilterStop
}
