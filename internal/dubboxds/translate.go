// Package dubboxds renders the Dubbo registry model (internal/dubboreg) as
// the xDS resources a meshproto sidecar routes Dubbo calls by: one
// listener, one virtual host per interface, a cluster per interface,
// group, version and tag, endpoints with the providers' weights.
//
// Routing follows Dubbo's own provider selection: a call reaches only
// providers of its interface, group and version; a call with a dubbo.tag attachment goes to the providers with
// that tag when there are any and otherwise to the untagged ones, a call
// without a tag only to untagged providers (Dubbo's TagRouter). Weights
// are Dubbo's, scaled into MOSN's 1..128 and split by MOSN's
// LEAST_REQUEST balancer (the only MOSN v1.3.0 policy that reads EDS
// weights); disabled providers (a dubbo-admin
// override) and weight 0 get no traffic.
package dubboxds

import (
	"cmp"
	"fmt"
	"sort"
	"strings"
	"time"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubboreg"
)

// TagKey is Dubbo's tag attachment.
const TagKey = dubboreg.TagKey

// There are no routes for a consumer's version "*" (any version): a Dubbo
// consumer resolves it to one provider's version before it sends, and a
// provider refuses a call that names "*" ("don't have this exporter"), so
// the proxy could honour it only by rewriting the version in the body.

// Options are what the model does not say: where the sidecar listens and
// the call policies.
type Options struct {
	ListenHost string // "127.0.0.1"
	ListenPort uint32 // 20881: consumers call their sidecar here
	// RouteName names the RDS resource (Istio names it after the port).
	RouteName string
	// Timeout and Retries are the defaults for services whose providers
	// advertise none (dubboreg.CallPolicy). Timeout 0 is MOSN's default.
	// Retries above 0 give a route MOSN's retry policy: a call is sent
	// again, to a host the balancer picks anew, after a connect failure,
	// a reset connection or a reply that maps to 5xx (Dubbo's server-side
	// errors, not application exceptions), as Dubbo's failover cluster
	// does; MOSN v1.3.0 allows at least 3 retries once a policy is set.
	// Retries 0 sets none, and MOSN then retries connect failures only.
	Timeout time.Duration
	Retries uint32
}

// ClusterName names the cluster of one interface, group, version and tag
// (tag "": untagged providers):
// dubbo|<interface>|<group>|<version>|<tag>.
func ClusterName(iface, group, version, tag string) string {
	return strings.Join([]string{"dubbo", iface, group, version, tag}, "|")
}

// Translate renders m. The result is deterministic for a given model, so
// an unchanged registry gives identical resources (and no push).
func Translate(m dubboreg.Model, o Options) (controlplane.Resources, error) {
	var res controlplane.Resources
	routeName := o.RouteName
	if routeName == "" {
		routeName = fmt.Sprint(o.ListenPort)
	}
	rc := controlplane.RouteConfig(routeName)
	vhosts := map[string]*route.VirtualHost{}
	specs := map[*route.VirtualHost][]routeSpec{}
	for _, svc := range m.Services { // sorted by interface, then group
		vh := vhosts[svc.Interface]
		if vh == nil {
			// meshproto_metadata sets x-mosn-host to the interface; MOSN
			// lowercases it before the domain lookup.
			vh = controlplane.VirtualHost(svc.Interface, []string{strings.ToLower(svc.Interface)})
			vhosts[svc.Interface] = vh
			rc.VirtualHosts = append(rc.VirtualHosts, vh)
		}
		clusters, routes := service(svc, o)
		for _, c := range clusters {
			scaleWeights(c.eps)
			res.Clusters = append(res.Clusters, controlplane.LeastRequest(controlplane.EDSCluster(c.name)))
			res.Endpoints = append(res.Endpoints, controlplane.Assignment(c.name, c.eps...))
		}
		specs[vh] = append(specs[vh], routes...)
	}
	for _, vh := range rc.VirtualHosts {
		rs := specs[vh]
		sort.SliceStable(rs, func(i, j int) bool { return dubboreg.TriedBefore(rs[i].match, rs[j].match) })
		for _, r := range rs {
			vh.Routes = append(vh.Routes, r.route)
		}
	}
	res.Routes = []*route.RouteConfiguration{rc}
	metadata, err := controlplane.MeshprotoFilter("meshproto_metadata", map[string]interface{}{"host": "{service}"})
	if err != nil {
		return res, err
	}
	name := fmt.Sprintf("%s_%d", o.ListenHost, o.ListenPort)
	res.Listeners = []*listener.Listener{controlplane.OutboundListener(name, o.ListenHost, o.ListenPort, routeName, metadata)}
	return res, nil
}

type clusterEndpoints struct {
	name string
	eps  []controlplane.Endpoint
}

// routeSpec is a route and what it matches, for ordering.
type routeSpec struct {
	match []dubboreg.Header
	route *route.Route
}

// service renders one interface and group: a cluster per selection, and
// a route for each that Dubbo would route to.
func service(svc dubboreg.Service, o Options) ([]clusterEndpoints, []routeSpec) {
	var clusters []clusterEndpoints
	var routes []routeSpec
	for _, sel := range svc.Selections() {
		c := ClusterName(svc.Interface, svc.Group, sel.Version, sel.Tag)
		ce := clusterEndpoints{name: c}
		for _, p := range sel.Providers {
			ce.eps = append(ce.eps, controlplane.Endpoint{Host: p.Host, Port: p.Port, Weight: p.Weight,
				Labels: map[string]string{"version": p.Version}})
		}
		clusters = append(clusters, ce)
		if !sel.Routed() {
			continue
		}
		match := svc.Match(sel)
		var hs []*route.HeaderMatcher
		for _, h := range match {
			hs = append(hs, controlplane.Header(h.Name, h.Value))
		}
		// What the providers advertise first, as a Dubbo consumer does.
		pol := sel.Policy()
		a := controlplane.Action{Cluster: c, Timeout: cmp.Or(pol.Timeout, o.Timeout), Retries: o.Retries, RetryOn: "connect-failure,refused-stream"}
		if pol.HasRetries {
			a.Retries = pol.Retries
		}
		routes = append(routes, routeSpec{match, controlplane.Route(c, a, hs...)})
	}
	return clusters, routes
}

// scaleWeights keeps the ratios of Dubbo's weights (default 100) within
// MOSN's range by scaling a cluster's weights down together.
func scaleWeights(eps []controlplane.Endpoint) {
	var top uint32
	for _, ep := range eps {
		top = max(top, ep.Weight)
	}
	for i := range eps {
		eps[i].Weight = controlplane.ScaleWeight(eps[i].Weight, top)
	}
}
