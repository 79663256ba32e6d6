// Package accesscontrol is the meshproto_access stream filter: it allows or
// denies meshproto requests by service, method, headers (attachments,
// THeader headers), source address and protocol, and answers a denied
// request itself with a protocol-native error, so the client sees a Dubbo
// status or a Thrift TApplicationException, never a dropped connection.
//
// It reads requests through rpcmeta.Request only, so it works for every
// meshproto protocol; other traffic passes untouched and is not counted.
// It runs before routing, so a denied request never reaches the router or
// an upstream.
package accesscontrol

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"mosn.io/api"
	"mosn.io/mosn/pkg/log"
	"mosn.io/mosn/pkg/metrics"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
	"github.com/meshproto/meshproto/streamfilters/internal/xdsconf"
)

// FilterName is the filter's "type" in MOSN's stream_filters config.
const FilterName = "meshproto_access"

// MOSN metrics, exported by MOSN's sinks. With the Prometheus sink each
// rule is one series:
//
//	meshproto_access_requests{action="deny",rule="no-admin"} 3
//
// MetricType is the metrics type, MetricRequests the counter's key. The
// labels are "rule" (the rule name, or DefaultRuleName) and "action"
// ("allow" or "deny": what the rule did to the requests it counts).
const (
	MetricType     = "meshproto_access"
	MetricRequests = "requests"
)

func init() {
	api.RegisterStream(FilterName, CreateFilterFactory)
	xdsconf.Register(FilterName) // configurable from Istio (EnvoyFilter, TypedStruct)
}

// CreateFilterFactory parses the config and registers the rules' MOSN
// metrics; it is also the symbol a Go plugin build exports for MOSN's
// go_plugin_config. The factory it returns is a *Factory.
func CreateFilterFactory(conf map[string]interface{}) (api.StreamFilterChainFactory, error) {
	p, err := parseConfig(conf)
	if err != nil {
		return nil, err
	}
	for _, r := range p.all() {
		if r.metric, err = newMetric(r); err != nil {
			return nil, fmt.Errorf("%s: metrics for rule %q: %w", FilterName, r.name, err)
		}
	}
	return &Factory{policy: p}, nil
}

// newMetric returns the MOSN counter of one rule. MOSN keeps one counter
// per (type, labels), so a config reload with the same rule keeps counting
// where the old config stopped, as Prometheus expects of a counter.
func newMetric(r *rule) (metricCounter, error) {
	m, err := metrics.NewMetrics(MetricType, map[string]string{"rule": r.name, "action": string(r.action())})
	if err != nil {
		return nil, err
	}
	return m.Counter(MetricRequests), nil
}

// Factory is the filter factory of one meshproto_access config.
type Factory struct {
	policy *policy
}

// CreateFilterChain adds one pooled filter per stream, before routing.
func (f *Factory) CreateFilterChain(ctx context.Context, callbacks api.StreamFilterChainFactoryCallbacks) {
	flt := filters.Get().(*filter)
	flt.policy = f.policy
	callbacks.AddStreamReceiverFilter(flt, api.BeforeRoute)
}

// RuleStats is what one rule decided since the factory was created.
type RuleStats struct {
	// Rule is the rule name; DefaultRuleName for the default action.
	Rule string
	// Action is what the rule does: every request it counts was allowed,
	// or every one was denied.
	Action Action
	// Requests is how many requests the rule decided.
	Requests uint64
}

// Stats returns the count of every rule in config order, then the default
// action's. The counts belong to this factory (one config); the MOSN metric
// of the same rule may include other listeners and earlier configs.
func (f *Factory) Stats() []RuleStats {
	all := f.policy.all()
	out := make([]RuleStats, 0, len(all))
	for _, r := range all {
		out = append(out, RuleStats{Rule: r.name, Action: r.action(), Requests: r.requests.Load()})
	}
	return out
}

// Decide says which rule decides req from src (nil when unknown) and
// whether it is allowed, without counting it: a dry run of the policy.
func (f *Factory) Decide(req rpcmeta.Request, src net.Addr) (rule string, allowed bool) {
	r := f.policy.decide(req, src)
	return r.name, !r.deny
}

// counter counts the requests one rule decided.
type counter struct {
	requests atomic.Uint64
	metric   metricCounter // nil until CreateFilterFactory sets it
}

// metricCounter is the part of a MOSN (go-metrics) counter the filter uses.
type metricCounter interface {
	Inc(int64)
}

func (c *counter) inc() {
	c.requests.Add(1)
	if c.metric != nil {
		c.metric.Inc(1)
	}
}

// all is the rules and then the default action.
func (p *policy) all() []*rule {
	out := make([]*rule, 0, len(p.rules)+1)
	out = append(out, p.rules...)
	return append(out, p.fallback)
}

// decide returns the first rule that matches, or the default action.
func (p *policy) decide(req rpcmeta.Request, src net.Addr) *rule {
	for _, r := range p.rules {
		if r.matcher.Match(req, src) {
			return r
		}
	}
	return p.fallback
}

// denyErrorFor is the configured error, with the default message naming the
// rule when the config sets none.
func (p *policy) denyErrorFor(r *rule, req rpcmeta.Request) rpcmeta.ErrorConfig {
	c := p.denyError
	if c.Message == "" {
		if r == p.fallback {
			c.Message = fmt.Sprintf("meshproto: access denied by default_action (service %s, method %s)", req.Service(), req.Method())
		} else {
			c.Message = fmt.Sprintf("meshproto: access denied by rule %q (service %s, method %s)", r.name, req.Service(), req.Method())
		}
	}
	return c
}

// filter is the per-stream filter; it holds the stream's handler, so it is
// pooled and returned in OnDestroy.
type filter struct {
	policy  *policy
	handler api.StreamReceiverFilterHandler
}

var filters = sync.Pool{New: func() interface{} { return new(filter) }}

func (f *filter) SetReceiveFilterHandler(h api.StreamReceiverFilterHandler) { f.handler = h }

func (f *filter) OnDestroy() {
	f.policy, f.handler = nil, nil
	filters.Put(f)
}

// OnReceive lets an allowed request through and answers a denied one.
func (f *filter) OnReceive(ctx context.Context, headers api.HeaderMap, buf api.IoBuffer, trailers api.HeaderMap) api.StreamFilterStatus {
	req, ok := headers.(rpcmeta.Request)
	if !ok || f.policy == nil {
		return api.StreamFilterContinue
	}
	r := f.policy.decide(req, rpcmatch.Source(f.handler))
	r.inc()
	if !r.deny {
		return api.StreamFilterContinue
	}
	if f.handler == nil {
		// MOSN always sets the handler; without one the request cannot
		// be answered, but it must not be forwarded either.
		log.Proxy.Errorf(ctx, "[%s] rule %q denies %s/%s but the stream has no handler to answer it", FilterName, r.name, req.Service(), req.Method())
		return api.StreamFilterStop
	}
	if log.Proxy.GetLogLevel() >= log.DEBUG {
		log.Proxy.Debugf(ctx, "[%s] rule %q denies %s/%s", FilterName, r.name, req.Service(), req.Method())
	}
	rpcmeta.Respond(ctx, f.handler, req, f.policy.denyErrorFor(r, req), api.PermissionDeniedCode)
	return api.StreamFilterStop
}
