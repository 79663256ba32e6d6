package dubboxds

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubboreg"
)

const iface = "org.meshproto.demo.UserProvider"

func prov(port uint32, version, group, tag string, weight uint32, disabled bool) dubboreg.Provider {
	return dubboreg.Provider{Interface: iface, Host: "127.0.0.1", Port: port, Version: version, Group: group, Tag: tag, Weight: weight, Disabled: disabled}
}

// routesOf lists a virtual host's routes as "cluster <- header=value ...".
func routesOf(t *testing.T, m dubboreg.Model) (map[string]int, []string) {
	res, err := Translate(m, Options{ListenHost: "127.0.0.1", ListenPort: 20881})
	require.NoError(t, err)
	require.Len(t, res.Listeners, 1)
	assert.Equal(t, "127.0.0.1_20881", res.Listeners[0].Name)
	require.Len(t, res.Clusters, len(res.Endpoints), "every cluster has its assignment, empty ones too")
	weights := map[string]int{}
	for _, cla := range res.Endpoints {
		for _, l := range cla.Endpoints {
			for _, ep := range l.LbEndpoints {
				weights[cla.ClusterName+"@"+ep.GetEndpoint().GetAddress().GetSocketAddress().GetAddress()+":"+
					itoa(ep.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue())] = int(ep.LoadBalancingWeight.GetValue())
			}
		}
	}
	for _, c := range res.Clusters {
		assert.Equal(t, "LEAST_REQUEST", c.LbPolicy.String(), "the only MOSN policy that reads weights")
	}
	var routes []string
	require.Len(t, res.Routes, 1)
	for _, vh := range res.Routes[0].VirtualHosts {
		for _, r := range vh.Routes {
			s := vh.Domains[0] + ": " + r.GetRoute().GetCluster() + " <-"
			for _, h := range r.Match.Headers {
				s += " " + h.Name + "=" + h.GetExactMatch()
			}
			routes = append(routes, s)
		}
	}
	return weights, routes
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestTranslate(t *testing.T) {
	m := dubboreg.Model{Services: []dubboreg.Service{
		{Interface: iface, Providers: []dubboreg.Provider{
			prov(1, "1.0.0", "", "", 100, false),
			prov(2, "2.0.0", "", "", 100, false),
			prov(7, "2.0.0", "", "", 300, false),
			prov(3, "1.0.0", "", "gray", 100, false),
			prov(4, "1.0.0", "", "", 100, true),    // disabled
			prov(5, "1.0.0", "", "blue", 0, false), // weight 0: its tag has nobody
		}},
		{Interface: iface, Group: "g", Providers: []dubboreg.Provider{prov(6, "", "g", "", 100, false)}},
	}}
	weights, routes := routesOf(t, m)
	d := "org.meshproto.demo.userprovider: "
	assert.Equal(t, []string{
		d + "dubbo|" + iface + "||1.0.0|gray <- x-rpc-version=1.0.0 dubbo.tag=gray",
		d + "dubbo|" + iface + "|g|| <- x-rpc-group=g",
		d + "dubbo|" + iface + "||1.0.0| <- x-rpc-version=1.0.0",
		d + "dubbo|" + iface + "||2.0.0| <- x-rpc-version=2.0.0",
	}, routes, "specific first, group routes before group-less ones; no route for a tag whose providers take no traffic (Dubbo falls back to untagged)")
	assert.Equal(t, map[string]int{
		"dubbo|" + iface + "||1.0.0|@127.0.0.1:1":     100,
		"dubbo|" + iface + "||2.0.0|@127.0.0.1:2":     43, // 100:300 scaled into MOSN's 1..128
		"dubbo|" + iface + "||2.0.0|@127.0.0.1:7":     128,
		"dubbo|" + iface + "||1.0.0|gray@127.0.0.1:3": 100,
		"dubbo|" + iface + "|g||@127.0.0.1:6":         100,
	}, weights, "disabled and weight-0 providers get no endpoint")
}

func TestTranslateEmptyServiceAndDeterminism(t *testing.T) {
	m := dubboreg.Model{Services: []dubboreg.Service{{Interface: iface}}}
	weights, routes := routesOf(t, m)
	assert.Empty(t, weights)
	assert.Empty(t, routes, "the service exists with no route: calls fail fast (no route), as Dubbo's 'no provider'")
	m = dubboreg.Model{Services: []dubboreg.Service{{Interface: iface, Providers: []dubboreg.Provider{prov(1, "1", "", "", 500, false)}}}}
	a, err := Translate(m, Options{ListenHost: "127.0.0.1", ListenPort: 1})
	require.NoError(t, err)
	b, err := Translate(m, Options{ListenHost: "127.0.0.1", ListenPort: 1})
	require.NoError(t, err)
	assert.Equal(t, a.Clusters[0].String(), b.Clusters[0].String())
	assert.Equal(t, a.Endpoints[0].String(), b.Endpoints[0].String())
	assert.Equal(t, uint32(128), a.Endpoints[0].Endpoints[0].LbEndpoints[0].LoadBalancingWeight.GetValue(), "a lone provider's weight is clamped to MOSN's range")
}

// TestTranslateCallPolicy: a route takes the timeout and retries its
// providers advertise, else the options'.
func TestTranslateCallPolicy(t *testing.T) {
	withPolicy := func(port uint32, version string, pol dubboreg.CallPolicy) dubboreg.Provider {
		p := prov(port, version, "", "", 100, false)
		p.Policy = pol
		return p
	}
	m := dubboreg.Model{Services: []dubboreg.Service{{Interface: iface, Providers: []dubboreg.Provider{
		prov(1, "1.0.0", "", "", 100, false), // dubbo-go: advertises nothing
		withPolicy(2, "2.0.0", dubboreg.CallPolicy{Timeout: 700 * time.Millisecond, Retries: 1, HasRetries: true}),
		withPolicy(3, "3.0.0", dubboreg.CallPolicy{HasRetries: true}), // cluster=failfast
	}}}}
	res, err := Translate(m, Options{ListenHost: "127.0.0.1", ListenPort: 1, Timeout: 5 * time.Second, Retries: 2})
	require.NoError(t, err)
	type policy struct {
		timeout time.Duration
		retries uint32
		on      string
	}
	got := map[string]policy{}
	for _, vh := range res.Routes[0].VirtualHosts {
		for _, r := range vh.Routes {
			ra := r.GetRoute()
			got[ra.GetCluster()] = policy{ra.GetTimeout().AsDuration(), ra.GetRetryPolicy().GetNumRetries().GetValue(), ra.GetRetryPolicy().GetRetryOn()}
		}
	}
	c := func(version string) string { return ClusterName(iface, "", version, "") }
	assert.Equal(t, map[string]policy{
		c("1.0.0"): {5 * time.Second, 2, "connect-failure,refused-stream"},
		c("2.0.0"): {700 * time.Millisecond, 1, "connect-failure,refused-stream"},
		c("3.0.0"): {5 * time.Second, 0, ""}, // no retry policy: MOSN retries connect failures only
	}, got)
}
