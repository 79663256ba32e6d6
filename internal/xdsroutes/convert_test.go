package xdsroutes

import (
	"fmt"
	"regexp"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/golang/protobuf/ptypes/duration"
	"github.com/golang/protobuf/ptypes/wrappers"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"
	v2 "mosn.io/mosn/pkg/config/v2"
)

func strMatch(m *matcherv3.StringMatcher) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: m}}
}

// matchOf answers whether a converted matcher accepts a header value
// (present false: the request has no such header), through MOSN's
// semantics for MOSN matchers and through Predicate for the rest.
func matchOf(t *testing.T, hm headerMatch, value string, present bool) bool {
	t.Helper()
	require.Empty(t, hm.unsupport)
	if hm.pred != nil {
		return hm.pred.Matches(value, present)
	}
	if !present {
		return false // MOSN: a missing header never matches
	}
	if !hm.mosn.Regex {
		return value == hm.mosn.Value
	}
	return regexp.MustCompile(hm.mosn.Value).MatchString(value)
}

func TestHeaderMatchersMeanWhatEnvoyMeans(t *testing.T) {
	type probe struct {
		value   string
		present bool
		want    bool
	}
	cases := []struct {
		name   string
		m      *routev3.HeaderMatcher
		mosn   bool // expressed as a MOSN matcher (no predicate)
		probes []probe
	}{
		{"string_match exact (what istiod writes)", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "gray"}}), true,
			[]probe{{"gray", true, true}, {"Gray", true, false}, {"grayer", true, false}, {"", false, false}}},
		{"exact ignore_case", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "gray"}, IgnoreCase: true}), true,
			[]probe{{"GRAY", true, true}, {"grayer", true, false}}},
		{"prefix", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "vip-"}}), true,
			[]probe{{"vip-1", true, true}, {"vip-", true, true}, {"xvip-1", true, false}, {"VIP-1", true, false}}},
		{"prefix with regex metacharacters is literal", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "a.b*"}}), true,
			[]probe{{"a.b*c", true, true}, {"axbbc", true, false}}},
		{"suffix ignore_case", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: ".Prod"}, IgnoreCase: true}), true,
			[]probe{{"eu.prod", true, true}, {"eu.prod.x", true, false}}},
		{"contains across lines", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: "b"}}), true,
			[]probe{{"a\nb\nc", true, true}, {"ac", true, false}}},
		{"safe_regex matches the whole value", strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "gr.y"}}}), true,
			[]probe{{"gray", true, true}, {"xgrayx", true, false}}},
		{"legacy exact_match", &routev3.HeaderMatcher{Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_ExactMatch{ExactMatch: "v"}}, true,
			[]probe{{"v", true, true}, {"w", true, false}}},
		{"legacy prefix_match", &routev3.HeaderMatcher{Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_PrefixMatch{PrefixMatch: "v"}}, true,
			[]probe{{"v1", true, true}, {"w", true, false}}},
		{"legacy safe_regex_match", &routev3.HeaderMatcher{Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_SafeRegexMatch{SafeRegexMatch: &matcherv3.RegexMatcher{Regex: "[0-9]+"}}}, true,
			[]probe{{"123", true, true}, {"12a", true, false}}},
		{"present_match true", &routev3.HeaderMatcher{Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}, true,
			[]probe{{"", true, true}, {"x", true, true}, {"", false, false}}},
		{"present_match false: absent", &routev3.HeaderMatcher{Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: false}}, false,
			[]probe{{"", false, true}, {"x", true, false}}},
		{"invert exact (withoutHeaders): an absent header matches", &routev3.HeaderMatcher{Name: "x-h", InvertMatch: true,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "v1"}}}}, false,
			[]probe{{"v1", true, false}, {"v2", true, true}, {"", false, true}}},
		{"invert present: absent", &routev3.HeaderMatcher{Name: "x-h", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}, false,
			[]probe{{"x", true, false}, {"", false, true}}},
		{"invert regex", &routev3.HeaderMatcher{Name: "x-h", InvertMatch: true,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: `\d{3}`}}}}}, false,
			[]probe{{"123", true, false}, {"1234", true, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hm := convertHeader(tc.m)
			assert.Equal(t, tc.mosn, hm.mosn != nil, "MOSN matcher vs predicate")
			for _, p := range tc.probes {
				assert.Equal(t, p.want, matchOf(t, hm, p.value, p.present), "value %q present %v", p.value, p.present)
			}
		})
	}
}

func TestUncheckableHeaderMatchersAreReported(t *testing.T) {
	for name, m := range map[string]*routev3.HeaderMatcher{
		"range_match":   {Name: "x-h", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{}},
		"invalid regex": strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "("}}}),
	} {
		assert.NotEmpty(t, convertHeader(m).unsupport, name)
	}
}

func routeConfig(routes ...*routev3.Route) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{Name: "20880", VirtualHosts: []*routev3.VirtualHost{{
		Name: "svc:20880", Domains: []string{"svc"}, Routes: routes, RequestHeadersToRemove: []string{"x-vh-drop"},
	}}}
}

func toCluster(name string) *routev3.Route_Route {
	return &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: name}}}
}

func TestConvertCorrectsMOSNsConversion(t *testing.T) {
	var logs []string
	c := NewConverter(func(f string, a ...interface{}) { logs = append(logs, fmt.Sprintf(f, a...)) })
	lbMatch := &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.lb": {Fields: map[string]*structpb.Value{"version": structpb.NewStringValue("2.0.0")}}}}
	rc := routeConfig(
		&routev3.Route{Name: "canary",
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{
				strMatch(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "gray"}}),
				{Name: "x-pin", InvertMatch: true, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "v1"}}}},
			}},
			Action:                 &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "v2"}, MetadataMatch: lbMatch, Timeout: &duration.Duration{Seconds: 1}}},
			RequestHeadersToAdd:    []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-mesh-route", Value: "canary"}, Append: &wrappers.BoolValue{Value: false}}},
			RequestHeadersToRemove: []string{"x-internal"},
			ResponseHeadersToAdd:   []*corev3.HeaderValueOption{{Header: &corev3.HeaderValue{Key: "x-served-route", Value: "canary"}}},
		},
		&routev3.Route{Name: "exact-path", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/svc/Greet"}}, Action: toCluster("v1")},
		&routev3.Route{Name: "any-case-prefix", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/svc/"}, CaseSensitive: &wrappers.BoolValue{Value: false}}, Action: toCluster("v1")},
		&routev3.Route{Name: "regex", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/svc/(a|b)"}}}, Action: toCluster("v1")},
		&routev3.Route{Name: "query", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, QueryParameters: []*routev3.QueryParameterMatcher{{Name: "q"}}}, Action: toCluster("v1")},
		&routev3.Route{Name: "range", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}, Headers: []*routev3.HeaderMatcher{{Name: "n", HeaderMatchSpecifier: &routev3.HeaderMatcher_RangeMatch{}}}}, Action: toCluster("v1")},
		&routev3.Route{Name: "mirror", Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "v1"},
				RequestMirrorPolicies: []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "v2"}},
				RetryPolicy:           &routev3.RetryPolicy{RetryOn: "connect-failure,retriable-status-codes", NumRetries: &wrappers.UInt32Value{Value: 2}, RetriableStatusCodes: []uint32{503}}}}},
	)
	out := c.Convert(rc)
	require.NotNil(t, out)
	require.Len(t, out.VirtualHosts, 1)
	vh := out.VirtualHosts[0]
	assert.Equal(t, []string{"x-vh-drop"}, vh.RequestHeadersToRemove)
	require.Len(t, vh.Routers, 5, "query and range routes are dropped, never widened")

	canary := vh.Routers[0]
	assert.Equal(t, []v2.HeaderMatcher{{Name: "x-h", Value: "gray"}}, canary.Match.Headers)
	preds, ok := canary.PerFilterConfig[PredicateKey].(*Predicates)
	require.True(t, ok)
	require.Len(t, preds.All, 1)
	assert.Equal(t, `not exact "v1"`, preds.All[0].Rule)
	assert.Equal(t, "2.0.0", canary.Route.MetadataMatch["version"])
	assert.Len(t, canary.Route.MetadataMatch, 1)
	require.Len(t, canary.Route.RequestHeadersToAdd, 1)
	assert.Equal(t, "x-mesh-route", canary.Route.RequestHeadersToAdd[0].Header.Key)
	assert.Equal(t, []string{"x-internal"}, canary.Route.RequestHeadersToRemove)
	require.Len(t, canary.Route.ResponseHeadersToAdd, 1)
	assert.Equal(t, "x-served-route", canary.Route.ResponseHeadersToAdd[0].Header.Key)

	exact := vh.Routers[1]
	assert.Empty(t, exact.Match.Path)
	assert.True(t, regexp.MustCompile(exact.Match.Regex).MatchString("/svc/Greet"))
	assert.False(t, regexp.MustCompile(exact.Match.Regex).MatchString("/svc/greet"), "Envoy paths are case-sensitive")
	assert.False(t, regexp.MustCompile(exact.Match.Regex).MatchString("/svc/Greet/x"))

	anyCase := vh.Routers[2]
	assert.True(t, regexp.MustCompile(anyCase.Match.Regex).MatchString("/SVC/x"))

	re := vh.Routers[3]
	assert.True(t, regexp.MustCompile(re.Match.Regex).MatchString("/svc/a"))
	assert.False(t, regexp.MustCompile(re.Match.Regex).MatchString("/svc/ab"), "Envoy's regex matches the whole path")

	mirror := vh.Routers[4]
	require.NotNil(t, mirror.RequestMirrorPolicies)
	assert.Equal(t, uint32(100), mirror.RequestMirrorPolicies.Percent, "no runtime_fraction: every request")
	assert.Equal(t, []uint32{503}, mirror.Route.RetryPolicy.StatusCodes)

	joined := fmt.Sprint(logs)
	assert.Contains(t, joined, "RouteMatch.query_parameters")
	assert.Contains(t, joined, "HeaderMatcher.range_match")
	n := len(logs)
	c.Convert(rc)
	assert.Equal(t, n, len(logs), "each unsupported field is logged once")
}

func TestPredicatesMatchHeaders(t *testing.T) {
	hm := convertHeader(&routev3.HeaderMatcher{Name: "x-pin", InvertMatch: true,
		HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "v1"}}}})
	ps := &Predicates{All: []*Predicate{hm.pred}}
	headers := map[string]string{}
	get := func(k string) (string, bool) { v, ok := headers[k]; return v, ok }
	assert.True(t, ps.Matches(get))
	headers["x-pin"] = "v1"
	assert.False(t, ps.Matches(get))
	headers["x-pin"] = "v2"
	assert.True(t, ps.Matches(get))
}
