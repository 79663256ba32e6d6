package controlplane

import (
	"fmt"
	"time"

	udpatype "github.com/cncf/udpa/go/udpa/type/v1"
	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"github.com/golang/protobuf/ptypes"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// adsSource is how Istio points RDS and EDS at the ADS stream.
func adsSource() *core.ConfigSource {
	return &core.ConfigSource{
		ResourceApiVersion:    core.ApiVersion_V3,
		ConfigSourceSpecifier: &core.ConfigSource_Ads{Ads: &core.AggregatedConfigSource{}},
	}
}

func socketAddress(host string, port uint32) *core.Address {
	return &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{
		Address:       host,
		PortSpecifier: &core.SocketAddress_PortValue{PortValue: port},
	}}}
}

// OutboundListener is the listener Istio 1.10 generates for an HTTP port
// of a ServiceEntry ("0.0.0.0_20880"-style name, OUTBOUND): one filter
// chain with an HTTP connection manager that takes its routes from RDS
// (routeName, Istio names it after the port) and ends in the router
// filter. MOSN v1.3.0 turns it into a "proxy" network filter with
// downstream and upstream protocol "Auto"; extra HTTP filters become
// MOSN stream filters only when MOSN knows their name (see docs/istio.md).
func OutboundListener(name, host string, port uint32, routeName string, httpFilters ...*hcm.HttpFilter) *listener.Listener {
	router, _ := anypb.New(&routerv3.Router{})
	filters := append([]*hcm.HttpFilter{}, httpFilters...)
	filters = append(filters, &hcm.HttpFilter{
		Name:       wellknown.Router,
		ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: router},
	})
	manager := &hcm.HttpConnectionManager{
		StatPrefix: "outbound_" + name,
		RouteSpecifier: &hcm.HttpConnectionManager_Rds{Rds: &hcm.Rds{
			ConfigSource:    adsSource(),
			RouteConfigName: routeName,
		}},
		HttpFilters: filters,
	}
	typed, err := anypb.New(manager)
	if err != nil {
		panic(err)
	}
	return &listener.Listener{
		Name:             name,
		Address:          socketAddress(host, port),
		TrafficDirection: core.TrafficDirection_OUTBOUND,
		FilterChains: []*listener.FilterChain{{
			Filters: []*listener.Filter{{
				Name:       wellknown.HTTPConnectionManager,
				ConfigType: &listener.Filter_TypedConfig{TypedConfig: typed},
			}},
		}},
	}
}

// MeshprotoFilter is an HTTP filter entry for a meshproto stream filter,
// its JSON config in a TypedStruct ("meshproto/<name>"), as an Istio
// EnvoyFilter inserts it before the router; MOSN v1.3.0 turns it into the
// stream filter of that name.
func MeshprotoFilter(name string, config map[string]interface{}) (*hcm.HttpFilter, error) {
	v, err := structpb.NewStruct(config)
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s config: %w", name, err)
	}
	// udpa's TypedStruct is a golang/protobuf (APIv1) message.
	typed, err := ptypes.MarshalAny(&udpatype.TypedStruct{TypeUrl: "meshproto/" + name, Value: v})
	if err != nil {
		return nil, fmt.Errorf("controlplane: %s config: %w", name, err)
	}
	return &hcm.HttpFilter{Name: name, ConfigType: &hcm.HttpFilter_TypedConfig{TypedConfig: typed}}, nil
}

// ClusterName is Istio's outbound cluster name: outbound|port|subset|host.
func ClusterName(port uint32, subset, host string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", port, subset, host)
}

// EDSCluster is an Istio-style EDS cluster (endpoints come over ADS).
// subsetKeys, when given, become lb_subset_config selectors (MOSN's
// subset load balancer, for routes with metadata_match).
func EDSCluster(name string, subsetKeys ...[]string) *cluster.Cluster {
	c := &cluster.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS},
		EdsClusterConfig:     &cluster.Cluster_EdsClusterConfig{EdsConfig: adsSource(), ServiceName: name},
		ConnectTimeout:       durationpb.New(time.Second),
		LbPolicy:             cluster.Cluster_ROUND_ROBIN,
	}
	if len(subsetKeys) > 0 {
		cfg := &cluster.Cluster_LbSubsetConfig{FallbackPolicy: cluster.Cluster_LbSubsetConfig_NO_FALLBACK}
		for _, keys := range subsetKeys {
			cfg.SubsetSelectors = append(cfg.SubsetSelectors, &cluster.Cluster_LbSubsetConfig_LbSubsetSelector{Keys: keys})
		}
		c.LbSubsetConfig = cfg
	}
	return c
}

// MaxEndpointWeight is MOSN v1.3.0's largest host weight
// (v2.MaxHostWeight): it clamps anything above, which would turn a 100:300
// split into 100:128.
const MaxEndpointWeight = 128

// ScaleWeight maps w from 0..top into MOSN's 1..MaxEndpointWeight, keeping
// the ratios of weights scaled with the same top (a no-op when top is
// within range).
func ScaleWeight(w, top uint32) uint32 {
	if top <= MaxEndpointWeight {
		return w
	}
	return uint32(max((uint64(w)*MaxEndpointWeight+uint64(top)/2)/uint64(top), 1))
}

// LeastRequest sets a cluster's lb_policy to LEAST_REQUEST, the one policy
// in which MOSN v1.3.0 honours endpoint weights from EDS.
func LeastRequest(c *cluster.Cluster) *cluster.Cluster {
	c.LbPolicy = cluster.Cluster_LEAST_REQUEST
	return c
}

// Endpoint is one workload (a WorkloadEntry or a pod).
type Endpoint struct {
	Host   string
	Port   uint32
	Labels map[string]string // become filter_metadata "envoy.lb" (subset keys)
	// Workload names the workload in filter_metadata "istio" as Istio does.
	Workload string
	// Weight is load_balancing_weight (0 means 1). MOSN v1.3.0 honours it
	// only in LEAST_REQUEST clusters (LeastRequest).
	Weight uint32
}

// Assignment is the EDS answer for one cluster: one locality holding every
// endpoint (MOSN v1.3.0 applies each locality as a full host list, so the
// last locality would win: never split endpoints over localities).
func Assignment(clusterName string, eps ...Endpoint) *endpoint.ClusterLoadAssignment {
	la := &endpoint.LocalityLbEndpoints{}
	for _, ep := range eps {
		lb := &endpoint.LbEndpoint{
			HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{
				Address: socketAddress(ep.Host, ep.Port),
			}},
			LoadBalancingWeight: wrapperspb.UInt32(max(ep.Weight, 1)),
		}
		md := &core.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
		if len(ep.Labels) > 0 {
			fields := map[string]interface{}{}
			for k, v := range ep.Labels {
				fields[k] = v
			}
			s, _ := structpb.NewStruct(fields)
			md.FilterMetadata["envoy.lb"] = s
		}
		if ep.Workload != "" {
			s, _ := structpb.NewStruct(map[string]interface{}{"workload": ep.Workload})
			md.FilterMetadata["istio"] = s
		}
		if len(md.FilterMetadata) > 0 {
			lb.Metadata = md
		}
		la.LbEndpoints = append(la.LbEndpoints, lb)
	}
	cla := &endpoint.ClusterLoadAssignment{ClusterName: clusterName}
	if len(eps) > 0 {
		cla.Endpoints = []*endpoint.LocalityLbEndpoints{la}
	}
	return cla
}

// RouteConfig is an RDS resource.
func RouteConfig(name string, vhosts ...*route.VirtualHost) *route.RouteConfiguration {
	return &route.RouteConfiguration{Name: name, VirtualHosts: vhosts}
}

// VirtualHost is one virtual host. Istio names it "host:port" and lists the
// service's names as domains.
func VirtualHost(name string, domains []string, routes ...*route.Route) *route.VirtualHost {
	return &route.VirtualHost{Name: name, Domains: domains, Routes: routes}
}

// Header matches a request header (for meshproto: x-rpc-service,
// x-rpc-method, x-rpc-version, x-rpc-group or any attachment) exactly, as
// Istio 1.10 writes VirtualService `headers: {name: {exact: ...}}`.
func Header(name, value string) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_ExactMatch{ExactMatch: value}}
}

// HeaderRegex is VirtualService `headers: {name: {regex: ...}}`.
func HeaderRegex(name, re string) *route.HeaderMatcher {
	return &route.HeaderMatcher{Name: name, HeaderMatchSpecifier: &route.HeaderMatcher_SafeRegexMatch{
		SafeRegexMatch: &matcher.RegexMatcher{
			EngineType: &matcher.RegexMatcher_GoogleRe2{GoogleRe2: &matcher.RegexMatcher_GoogleRE2{}},
			Regex:      re,
		},
	}}
}

// Action is a route's destination and policies.
type Action struct {
	Cluster  string
	Weighted map[string]uint32 // cluster -> weight; used when Cluster is ""
	// Subset is metadata_match filter_metadata "envoy.lb" (MOSN's subset LB).
	Subset     map[string]string
	Timeout    time.Duration
	Retries    uint32
	PerTry     time.Duration
	RetryOn    string // Istio: "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
	WeightKeys []string
}

// Route is a route that matches on headers only. Istio writes prefix "/"
// into every route without a uri match; MOSN v1.3.0 then matches the
// request path, which RPC requests do not have, so no meshproto request
// ever matches such a route (see docs/istio.md). These routes leave the
// path specifier unset: MOSN accepts that and matches headers only.
func Route(name string, a Action, headers ...*route.HeaderMatcher) *route.Route {
	ra := &route.RouteAction{}
	if a.Cluster != "" {
		ra.ClusterSpecifier = &route.RouteAction_Cluster{Cluster: a.Cluster}
	} else {
		wc := &route.WeightedCluster{}
		var total uint32
		keys := a.WeightKeys
		if keys == nil {
			for k := range a.Weighted {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			wc.Clusters = append(wc.Clusters, &route.WeightedCluster_ClusterWeight{Name: k, Weight: wrapperspb.UInt32(a.Weighted[k])})
			total += a.Weighted[k]
		}
		wc.TotalWeight = wrapperspb.UInt32(total)
		ra.ClusterSpecifier = &route.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if len(a.Subset) > 0 {
		fields := map[string]interface{}{}
		for k, v := range a.Subset {
			fields[k] = v
		}
		s, _ := structpb.NewStruct(fields)
		ra.MetadataMatch = &core.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.lb": s}}
	}
	if a.Timeout > 0 {
		ra.Timeout = durationpb.New(a.Timeout)
	}
	if a.Retries > 0 {
		on := a.RetryOn
		if on == "" {
			on = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
		}
		rp := &route.RetryPolicy{RetryOn: on, NumRetries: wrapperspb.UInt32(a.Retries)}
		if a.PerTry > 0 {
			rp.PerTryTimeout = durationpb.New(a.PerTry)
		}
		ra.RetryPolicy = rp
	}
	return &route.Route{
		Name:   name,
		Match:  &route.RouteMatch{Headers: headers},
		Action: &route.Route_Route{Route: ra},
	}
}

// AddRequestHeader adds request_headers_to_add to a virtual host (MOSN
// v1.3.0 converts them there, not on routes).
func AddRequestHeader(vh *route.VirtualHost, key, value string) *route.VirtualHost {
	vh.RequestHeadersToAdd = append(vh.RequestHeadersToAdd, &core.HeaderValueOption{
		Header: &core.HeaderValue{Key: key, Value: value},
		Append: wrapperspb.Bool(false),
	})
	return vh
}
