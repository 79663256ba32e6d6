package xdsroutes

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"mosn.io/mosn/pkg/log"
)

// Istio's default auto mTLS (and a DestinationRule with ISTIO_MUTUAL) gives
// every cluster an upstream TLS context whose certificates come over SDS
// from the "sds-grpc" cluster, which istio-agent adds to Envoy's bootstrap.
// A MOSN sidecar without that cluster has no certificates: MOSN v1.3.0
// then panics in its SDS client (recovered) and connects with whatever TLS
// state it has, so calls fail at random. meshproto refuses instead: the
// first CDS response that needs an SDS cluster the bootstrap lacks stops
// the sidecar with one message that says what to change.

// sdsRequirement is what parseAdsConfig learned from the bootstrap.
type sdsRequirement struct {
	static map[string]bool // static cluster names
	exit   func(format string, args ...interface{})
}

func newSDSRequirement(static json.RawMessage) *sdsRequirement {
	r := &sdsRequirement{static: map[string]bool{}, exit: log.StartLogger.Fatalf}
	var s struct {
		Clusters []struct {
			Name string `json:"name"`
		} `json:"clusters"`
	}
	if len(static) > 0 && json.Unmarshal(static, &s) == nil {
		for _, c := range s.Clusters {
			r.static[c.Name] = true
		}
	}
	return r
}

// check stops the sidecar when a cluster needs an SDS cluster the
// bootstrap does not define.
func (r *sdsRequirement) check(d *discoveryv3.DiscoveryResponse) {
	missing := map[string][]string{} // SDS cluster -> clusters that need it
	for _, res := range d.GetResources() {
		c := &clusterv3.Cluster{}
		if res.UnmarshalTo(c) != nil {
			continue // MOSN's own handler reports it
		}
		for _, sds := range clusterSDSClusters(c) {
			if !r.static[sds] {
				missing[sds] = append(missing[sds], c.GetName())
			}
		}
	}
	if len(missing) == 0 {
		return
	}
	var parts []string
	for sds, clusters := range missing {
		sort.Strings(clusters)
		if len(clusters) > 3 {
			clusters = append(clusters[:3], fmt.Sprintf("and %d more", len(clusters)-3))
		}
		parts = append(parts, fmt.Sprintf("%q (for %s)", sds, strings.Join(clusters, ", ")))
	}
	sort.Strings(parts)
	r.exit("[meshproto] [xds] istiod asks for mutual TLS with certificates from SDS cluster %s, which this sidecar's bootstrap does not define: "+
		"without certificates the sidecar would fail or talk plaintext, so it stops. "+
		"Either turn mTLS off for these services (mesh config enableAutoMtls: false, or a DestinationRule trafficPolicy.tls.mode: DISABLE), "+
		"or run an SDS server (istio-agent) on ./etc/istio/proxy/SDS and add the cluster to static_resources (docs/istio.md, \"Mutual TLS\")",
		strings.Join(parts, ", "))
}

// clusterSDSClusters lists the SDS clusters a cluster's TLS needs.
func clusterSDSClusters(c *clusterv3.Cluster) []string {
	var out []string
	add := func(ts *corev3.TransportSocket) {
		if ts == nil || ts.GetTypedConfig() == nil {
			return
		}
		tc := &tlsv3.UpstreamTlsContext{}
		if ts.GetTypedConfig().UnmarshalTo(tc) != nil {
			return
		}
		ctc := tc.GetCommonTlsContext()
		var secrets []*tlsv3.SdsSecretConfig
		secrets = append(secrets, ctc.GetTlsCertificateSdsSecretConfigs()...)
		secrets = append(secrets, ctc.GetValidationContextSdsSecretConfig(), ctc.GetCombinedValidationContext().GetValidationContextSdsSecretConfig())
		for _, s := range secrets {
			for _, g := range s.GetSdsConfig().GetApiConfigSource().GetGrpcServices() {
				if name := g.GetEnvoyGrpc().GetClusterName(); name != "" {
					out = append(out, name)
				}
			}
		}
	}
	add(c.GetTransportSocket())
	for _, m := range c.GetTransportSocketMatches() {
		add(m.GetTransportSocket())
	}
	return out
}
