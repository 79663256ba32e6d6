package xdsroutes

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"mosn.io/api"
	"mosn.io/mosn/istio/istio1106/xds/conv"
	v2 "mosn.io/mosn/pkg/config/v2"
)

// PredicateKey is the per-route config key under which a converted route
// carries the header conditions MOSN's matchers cannot express; the route
// handler reads it. MOSN's stream filters look up their own names only.
const PredicateKey = "meshproto.header_predicates"

// Predicates are the extra conditions of one route.
type Predicates struct {
	All []*Predicate `json:"all"`
}

// Matches reports whether headers satisfy every predicate.
func (ps *Predicates) Matches(get func(string) (string, bool)) bool {
	for _, p := range ps.All {
		v, ok := get(p.Header)
		if !p.Matches(v, ok) {
			return false
		}
	}
	return true
}

// Converter turns RouteConfigurations, as istiod writes them, into MOSN
// router configurations. It starts from MOSN's own converter and corrects
// what that converter gets wrong or drops for RPC traffic:
//
//   - header matchers: string_match (exact, prefix, suffix, contains,
//     safe_regex, ignore_case), the older prefix/suffix/contains fields,
//     present_match and invert_match (MOSN v1.3.0 reads only exact_match
//     and safe_regex_match and turns everything else into a match on "");
//   - path matches: case-sensitive exact paths and anchored regexes, as
//     Envoy means them (MOSN compares exact paths ignoring case and lets a
//     regex match any part of the path); case_sensitive: false prefixes;
//   - route-level request/response headers to add and remove, virtual-host
//     request headers to remove (MOSN drops them);
//   - a mirror policy without runtime_fraction mirrors every request
//     (MOSN reads it as 0 %); retriable_status_codes; metadata_match
//     (MOSN turns the "envoy.lb" struct into one criterion no host has).
//
// A route with a condition that cannot be checked (range_match, query
// parameters, gRPC-only, ...) is dropped, never widened: it could not match
// an RPC request as Envoy means it. Every field left unsupported is logged
// once by name. A Converter is used from one goroutine (the ADS stream's).
type Converter struct {
	logf   func(format string, args ...interface{})
	logged map[string]bool
}

// NewConverter returns a converter that reports unsupported fields, once
// each, through logf.
func NewConverter(logf func(format string, args ...interface{})) *Converter {
	return &Converter{logf: logf, logged: map[string]bool{}}
}

func (c *Converter) unsupported(what string, consequence string) {
	key := what + "|" + consequence
	if c.logged[key] {
		return
	}
	c.logged[key] = true
	c.logf("[meshproto] [xds] unsupported %s: %s (logged once)", what, consequence)
}

// Convert converts one RouteConfiguration.
func (c *Converter) Convert(rc *routev3.RouteConfiguration) *v2.RouterConfiguration {
	out, _ := conv.ConvertRouterConf("", rc)
	if out == nil {
		return nil
	}
	vhosts := rc.GetVirtualHosts()
	if len(vhosts) != len(out.VirtualHosts) {
		c.unsupported("route configuration shape", "kept as MOSN converted it")
		return out
	}
	for i, evh := range vhosts {
		vh := &out.VirtualHosts[i]
		vh.RequestHeadersToRemove = evh.GetRequestHeadersToRemove()
		c.vhostFields(evh)
		vh.Routers = c.routes(evh, vh.Routers)
	}
	return out
}

func (c *Converter) vhostFields(evh *routev3.VirtualHost) {
	if evh.GetRetryPolicy() != nil {
		c.unsupported("VirtualHost.retry_policy", "ignored; set retries on the route (VirtualService http[].retries)")
	}
	if evh.GetCors() != nil {
		c.unsupported("VirtualHost.cors", "ignored")
	}
	if len(evh.GetRateLimits()) > 0 {
		c.unsupported("VirtualHost.rate_limits", "ignored; use meshproto_ratelimit")
	}
	if evh.GetHedgePolicy() != nil {
		c.unsupported("VirtualHost.hedge_policy", "ignored")
	}
}

// routes pairs the Envoy routes MOSN kept (those with a route, redirect or
// direct-response action) with MOSN's conversions and corrects each.
func (c *Converter) routes(evh *routev3.VirtualHost, converted []v2.Router) []v2.Router {
	var kept []*routev3.Route
	for _, r := range evh.GetRoutes() {
		if r.GetRoute() != nil || r.GetRedirect() != nil || r.GetDirectResponse() != nil {
			kept = append(kept, r)
		} else {
			c.unsupported(fmt.Sprintf("route action of route %q", r.GetName()), "route dropped")
		}
	}
	if len(kept) != len(converted) {
		c.unsupported("route list shape", "kept as MOSN converted it")
		return converted
	}
	out := converted[:0]
	for i, er := range kept {
		mr := converted[i]
		if ok := c.route(er, &mr); ok {
			out = append(out, mr)
		}
	}
	return out
}

// route corrects one route; false drops it.
func (c *Converter) route(er *routev3.Route, mr *v2.Router) bool {
	name := er.GetName()
	m := er.GetMatch()
	if !c.pathMatch(name, m, &mr.Match) {
		return false
	}
	for field, set := range map[string]bool{
		"query_parameters": len(m.GetQueryParameters()) > 0,
		"grpc":             m.GetGrpc() != nil,
		"tls_context":      m.GetTlsContext() != nil,
		"dynamic_metadata": len(m.GetDynamicMetadata()) > 0,
	} {
		if set {
			c.unsupported("RouteMatch."+field+" (route "+fmt.Sprintf("%q", name)+")", "route dropped: an RPC request never matches it")
			return false
		}
	}
	if m.GetRuntimeFraction() != nil {
		c.unsupported("RouteMatch.runtime_fraction", "ignored: the route matches every request its other conditions match")
	}

	var headers []v2.HeaderMatcher
	var preds []*Predicate
	for _, h := range m.GetHeaders() {
		hm := convertHeader(h)
		switch {
		case hm.unsupport != "":
			c.unsupported(hm.unsupport+" (route "+fmt.Sprintf("%q", name)+", header "+fmt.Sprintf("%q", h.GetName())+")", "route dropped")
			return false
		case hm.pred != nil:
			preds = append(preds, hm.pred)
		default:
			headers = append(headers, *hm.mosn)
		}
	}
	mr.Match.Headers = headers
	if len(preds) > 0 {
		if mr.PerFilterConfig == nil {
			mr.PerFilterConfig = map[string]interface{}{}
		}
		mr.PerFilterConfig[PredicateKey] = &Predicates{All: preds}
	}

	mr.Route.RequestHeadersToAdd = headerOptions(er.GetRequestHeadersToAdd())
	mr.Route.RequestHeadersToRemove = er.GetRequestHeadersToRemove()
	mr.Route.ResponseHeadersToAdd = headerOptions(er.GetResponseHeadersToAdd())
	mr.Route.ResponseHeadersToRemove = er.GetResponseHeadersToRemove()
	if a := er.GetRoute(); a != nil {
		c.action(a, mr)
	}
	for key := range er.GetTypedPerFilterConfig() {
		if !strings.HasSuffix(key, ".fault") && key != v2.FaultStream {
			c.unsupported("Route.typed_per_filter_config "+fmt.Sprintf("%q", key), "ignored")
		}
	}
	return true
}

// pathMatch makes MOSN's path rule mean what Envoy's does.
func (c *Converter) pathMatch(name string, m *routev3.RouteMatch, out *v2.RouterMatch) bool {
	caseSensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	flags := ""
	if !caseSensitive {
		flags = "(?i)"
	}
	switch spec := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		if !caseSensitive && spec.Prefix != "" && spec.Prefix != "/" {
			out.Prefix, out.Regex = "", flags+"^"+regexp.QuoteMeta(spec.Prefix)
		}
	case *routev3.RouteMatch_Path:
		// MOSN compares exact paths ignoring case; Envoy, by default, not.
		out.Path, out.Regex = "", flags+"^"+regexp.QuoteMeta(spec.Path)+"$"
	case *routev3.RouteMatch_SafeRegex:
		// Envoy's regex matches the whole path, MOSN's any part of it.
		re := flags + "^(?:" + spec.SafeRegex.GetRegex() + ")$"
		if _, err := regexp.Compile(re); err != nil {
			c.unsupported(fmt.Sprintf("RouteMatch.safe_regex %q (route %q)", spec.SafeRegex.GetRegex(), name), "route dropped: invalid regex")
			return false
		}
		out.Regex = re
	case nil:
	default:
		c.unsupported(fmt.Sprintf("RouteMatch path specifier %T (route %q)", spec, name), "route dropped")
		return false
	}
	return true
}

func (c *Converter) action(a *routev3.RouteAction, mr *v2.Router) {
	// MOSN adds the whole "envoy.lb" struct as one more criterion, so no
	// host ever matches; Envoy means its fields.
	if md := a.GetMetadataMatch(); md != nil {
		mr.Route.MetadataMatch = lbMetadata(md)
	}
	for i, wc := range a.GetWeightedClusters().GetClusters() {
		if i < len(mr.Route.WeightedClusters) && wc.GetMetadataMatch() != nil {
			mr.Route.WeightedClusters[i].Cluster.MetadataMatch = lbMetadata(wc.GetMetadataMatch())
		}
	}
	if mp := a.GetRequestMirrorPolicies(); len(mp) > 0 && mr.RequestMirrorPolicies != nil {
		if mp[0].GetRuntimeFraction() == nil {
			mr.RequestMirrorPolicies.Percent = 100 // Envoy: no fraction means every request
		}
		if len(mp) > 1 {
			c.unsupported("RouteAction.request_mirror_policies beyond the first", "ignored")
		}
	}
	if rp := a.GetRetryPolicy(); rp != nil && mr.Route.RetryPolicy != nil {
		mr.Route.RetryPolicy.StatusCodes = rp.GetRetriableStatusCodes()
		if rp.GetRetryOn() != "" {
			conds := strings.Split(rp.GetRetryOn(), ",")
			sort.Strings(conds)
			c.unsupported("RetryPolicy.retry_on conditions "+strings.Join(conds, ","), "MOSN retries any failed attempt (reset, timeout, or a failure status of the codec's mapping)")
		}
		if rp.GetRetryHostPredicate() != nil {
			c.unsupported("RetryPolicy.retry_host_predicate", "ignored: a retry may pick the same host")
		}
	}
	for _, wc := range a.GetWeightedClusters().GetClusters() {
		if len(wc.GetRequestHeadersToAdd()) > 0 || len(wc.GetRequestHeadersToRemove()) > 0 {
			c.unsupported("WeightedCluster.ClusterWeight request headers (VirtualService destination headers)", "ignored; set headers on the route")
		}
	}
	for field, set := range map[string]bool{
		"host_rewrite_literal":     a.GetHostRewriteLiteral() != "",
		"regex_rewrite":            a.GetRegexRewrite() != nil,
		"cors":                     a.GetCors() != nil,
		"rate_limits":              len(a.GetRateLimits()) > 0,
		"hedge_policy":             a.GetHedgePolicy() != nil,
		"idle_timeout":             a.GetIdleTimeout() != nil,
		"max_stream_duration":      a.GetMaxStreamDuration() != nil,
		"internal_redirect_policy": a.GetInternalRedirectPolicy() != nil,
	} {
		if set {
			c.unsupported("RouteAction."+field, "ignored")
		}
	}
}

// lbMetadata is the "envoy.lb" part of a metadata match, the key Envoy's
// subset load balancer reads.
func lbMetadata(md *corev3.Metadata) api.Metadata {
	out := api.Metadata{}
	for k, v := range md.GetFilterMetadata()["envoy.lb"].GetFields() {
		out[k] = v.GetStringValue()
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func headerOptions(opts []*corev3.HeaderValueOption) []*v2.HeaderValueOption {
	if len(opts) == 0 {
		return nil
	}
	out := make([]*v2.HeaderValueOption, 0, len(opts))
	for _, o := range opts {
		var app *bool
		if o.GetAppend() != nil {
			v := o.GetAppend().GetValue()
			app = &v
		}
		out = append(out, &v2.HeaderValueOption{
			Header: &v2.HeaderValue{Key: o.GetHeader().GetKey(), Value: o.GetHeader().GetValue()},
			Append: app,
		})
	}
	return out
}
