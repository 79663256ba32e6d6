package istiomcp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	networking "istio.io/api/networking/v1alpha3"

	"github.com/meshproto/meshproto/internal/dubboreg"
)

const iface = "org.meshproto.demo.UserProvider"

func prov(port uint32, version, group, tag string, weight uint32) dubboreg.Provider {
	return dubboreg.Provider{Interface: iface, Host: "127.0.0.1", Port: port, Version: version, Group: group, Tag: tag, Weight: weight}
}

func model() dubboreg.Model {
	return dubboreg.Model{Services: []dubboreg.Service{
		{Interface: iface, Providers: []dubboreg.Provider{
			prov(1, "1.0.0", "", "", 100), prov(2, "1.0.0", "", "", 300), prov(3, "1.0.0", "", "gray", 100),
			{Interface: iface, Host: "127.0.0.1", Port: 4, Version: "2.0.0", Weight: 100, Disabled: true},
		}},
		{Interface: iface, Group: "g", Providers: []dubboreg.Provider{prov(5, "2.0.0", "g", "", 100)}},
	}}
}

func TestObjects(t *testing.T) {
	objs := Objects(model(), Options{ServicePort: 20881})
	kinds := map[Kind]int{}
	for _, o := range objs {
		kinds[o.Kind]++
		assert.Equal(t, "default", o.Namespace)
		assert.LessOrEqual(t, len(o.Name), 63)
	}
	assert.Equal(t, map[Kind]int{ServiceEntry: 1, WorkloadEntry: 4, DestinationRule: 1, VirtualService: 1}, kinds, "the disabled provider has no WorkloadEntry")
	y := YAML(objs)
	for _, want := range []string{
		"kind: ServiceEntry", `hosts: ["` + iface + `"]`, "- {number: 20881, name: http-rpc, protocol: HTTP}",
		`labels: {"dubbo.group": "", "dubbo.tag": "gray", "meshproto.io/dubbo-service": "org-meshproto-demo-userprovider-`,
		"weight: 43", "weight: 128", // 100:300 scaled into MOSN's 1..128
		`labels: {"dubbo.group": "", "dubbo.tag": "", "version": "1.0.0"}`,
	} {
		assert.Contains(t, y, want)
	}
	// Route order: group routes first, then tag routes, then versions.
	vs := y[strings.Index(y, "kind: VirtualService"):]
	iGroup := strings.Index(vs, `x-rpc-group: {exact: "g"}`)
	iTag := strings.Index(vs, `dubbo.tag: {exact: "gray"}`)
	iV1 := strings.LastIndex(vs, `x-rpc-version: {exact: "1.0.0"}`)
	require.True(t, iGroup > 0 && iTag > 0 && iV1 > 0, vs)
	assert.Less(t, iGroup, iTag)
	assert.Less(t, iTag, iV1)
}

// wellFormed walks a protobuf message and the nested messages at the
// given field numbers.
func wellFormed(t *testing.T, b []byte) map[protowire.Number]int {
	t.Helper()
	seen := map[protowire.Number]int{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		require.GreaterOrEqual(t, n, 0, "bad tag")
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		require.GreaterOrEqual(t, m, 0, "bad field %d", num)
		b = b[m:]
		seen[num]++
	}
	return seen
}

func TestProtoEncoding(t *testing.T) {
	for _, o := range Objects(model(), Options{ServicePort: 20881}) {
		fields := wellFormed(t, o.Spec.proto())
		switch o.Kind {
		case ServiceEntry:
			assert.Equal(t, map[protowire.Number]int{1: 1, 3: 1, 4: 1, 5: 1, 9: 1}, fields)
		case WorkloadEntry:
			assert.Equal(t, map[protowire.Number]int{1: 1, 2: 1, 3: 4, 6: 1}, fields, "address, one port, four labels, weight")
		case DestinationRule:
			assert.Equal(t, 1, fields[1])
			assert.Equal(t, 4, fields[3], "subsets: 1.0.0 gray, 1.0.0, 2.0.0 (its provider disabled), group g 2.0.0")
		case VirtualService:
			assert.Equal(t, 1, fields[1])
			assert.Equal(t, 4, fields[3], "routes: the same four; 2.0.0 routes to an empty subset, so its calls fail fast as in Dubbo")
		}
	}
	a, b := Objects(model(), Options{ServicePort: 1}), Objects(model(), Options{ServicePort: 1})
	for i := range a {
		assert.Equal(t, a[i].Spec.proto(), b[i].Spec.proto(), "deterministic")
	}
}

func TestObjectName(t *testing.T) {
	assert.Equal(t, objectName("a.B"), objectName("a.B"))
	assert.NotEqual(t, objectName("a.B"), objectName("a-b"), "distinct names stay distinct")
	long := objectName(strings.Repeat("x", 300))
	assert.LessOrEqual(t, len(long), 63)
	assert.True(t, strings.HasPrefix(objectName("***"), "dubbo-"))
}

func TestKindOf(t *testing.T) {
	for in, want := range map[string]Kind{
		"networking.istio.io/v1/ServiceEntry":         ServiceEntry,
		"networking.istio.io/v1alpha3/VirtualService": VirtualService,
		"networking.istio.io/v1beta1/WorkloadEntry":   WorkloadEntry,
		"security.istio.io/v1/AuthorizationPolicy":    "",
		"core/v1alpha1/MeshConfig":                    "",
	} {
		k, ok := kindOf(in)
		assert.Equal(t, want, k, in)
		assert.Equal(t, want != "", ok, in)
	}
}

// TestVirtualServicePolicy: a subset's advertised timeout and retries
// reach the VirtualService route (decoded with istio.io/api's own type);
// what nobody advertises stays unset, for Istio's defaults.
func TestVirtualServicePolicy(t *testing.T) {
	p2 := prov(2, "2.0.0", "", "", 100)
	p2.Policy = dubboreg.CallPolicy{Timeout: 1500 * time.Millisecond, Retries: 1, HasRetries: true}
	p3 := prov(3, "3.0.0", "", "", 100)
	p3.Policy = dubboreg.CallPolicy{HasRetries: true} // cluster=failfast
	m := dubboreg.Model{Services: []dubboreg.Service{{Interface: iface, Providers: []dubboreg.Provider{prov(1, "1.0.0", "", "", 100), p2, p3}}}}
	objs := Objects(m, Options{ServicePort: 20881})
	var vs networking.VirtualService
	for _, o := range objs {
		if o.Kind == VirtualService {
			require.NoError(t, vs.Unmarshal(o.Spec.proto()))
		}
	}
	type policy struct {
		timeout  string
		attempts int32
		retries  bool
	}
	got := map[string]policy{}
	for _, r := range vs.Http {
		p := policy{retries: r.Retries != nil, attempts: r.Retries.GetAttempts()}
		if r.Timeout != nil {
			p.timeout = fmt.Sprintf("%ds+%dns", r.Timeout.Seconds, r.Timeout.Nanos)
		}
		got[r.Route[0].Destination.Subset] = p
	}
	assert.Equal(t, map[string]policy{
		subsetName("", "1.0.0", ""): {},
		subsetName("", "2.0.0", ""): {timeout: "1s+500000000ns", attempts: 1, retries: true},
		subsetName("", "3.0.0", ""): {retries: true}, // attempts 0: Istio's default retries off
	}, got)
	y := YAML(objs)
	assert.Contains(t, y, "  timeout: 1.5s\n    retries: {attempts: 1}\n")
	assert.Contains(t, y, "  retries: {attempts: 0}\n")
	assert.Equal(t, 1, strings.Count(y, "timeout:"))
}
