// Package istiomcp renders the Dubbo registry model (internal/dubboreg)
// as Istio resources (ServiceEntry, WorkloadEntry, DestinationRule,
// VirtualService), as YAML files and as MCP-over-xDS for a real istiod
// (mesh config `configSources: [{address: "xds://..."}]`), which then
// configures the sidecars itself.
//
// The resources are plain Istio: one ServiceEntry per interface (the
// interface as host, one HTTP port: istiod writes an HTTP connection
// manager, which MOSN runs as a protocol-Auto proxy where meshproto's
// codecs find Dubbo), one WorkloadEntry per provider (its address and
// port, Dubbo's weight, and labels for version, group and tag), a
// DestinationRule with a subset per selection and a VirtualService that
// matches the request's version, group and dubbo.tag headers in Dubbo's
// order (internal/dubboreg: Selections, Match, TriedBefore). The protobuf encoding is
// written here field by field (protowire): the module keeps MOSN's old
// istio.io/api, which has no MCP-era types.
package istiomcp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubboreg"
)

// Labels the WorkloadEntries carry; the subsets select on them.
const (
	LabelService = "meshproto.io/dubbo-service" // which ServiceEntry selects the workload
	LabelVersion = "version"
	LabelGroup   = "dubbo.group"
	LabelTag     = dubboreg.TagKey
)

// Options say what the registry does not.
type Options struct {
	Namespace   string // "default"
	ServicePort uint32 // the port every ServiceEntry declares (the sidecars' egress port)
}

// Kind is an Istio kind this package writes.
type Kind string

// The kinds.
const (
	ServiceEntry    Kind = "ServiceEntry"
	WorkloadEntry   Kind = "WorkloadEntry"
	DestinationRule Kind = "DestinationRule"
	VirtualService  Kind = "VirtualService"
)

// Kinds in the order they are written.
var Kinds = []Kind{ServiceEntry, WorkloadEntry, DestinationRule, VirtualService}

// Object is one Istio resource.
type Object struct {
	Kind      Kind
	Namespace string
	Name      string
	Spec      spec
}

// spec is a resource body that renders as YAML and as protobuf.
type spec interface {
	yaml(b *strings.Builder, indent string)
	proto() []byte
	typeURL() string
}

// Objects renders m as Istio resources, sorted by kind and name.
func Objects(m dubboreg.Model, o Options) []Object {
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	var out []Object
	byIface := map[string][]dubboreg.Service{}
	var ifaces []string
	for _, s := range m.Services {
		if byIface[s.Interface] == nil {
			ifaces = append(ifaces, s.Interface)
		}
		byIface[s.Interface] = append(byIface[s.Interface], s)
	}
	sort.Strings(ifaces)
	for _, iface := range ifaces {
		name := objectName(iface)
		out = append(out, Object{ServiceEntry, ns, name, &serviceEntry{
			hosts: []string{iface}, port: o.ServicePort, selector: map[string]string{LabelService: name},
		}})
		dr := &destinationRule{host: iface}
		vs := &virtualService{host: iface, port: o.ServicePort}
		// MOSN clamps endpoint weights to 1..128: scale the interface's
		// weights together so that every subset keeps Dubbo's ratios.
		var top uint32
		for _, svc := range byIface[iface] {
			for _, p := range svc.Providers {
				top = max(top, p.Weight)
			}
		}
		for _, svc := range byIface[iface] {
			for _, p := range svc.Providers {
				if p.Disabled || p.Weight == 0 {
					continue
				}
				w := controlplane.ScaleWeight(p.Weight, top)
				labels := map[string]string{LabelService: name, LabelVersion: p.Version, LabelGroup: p.Group, LabelTag: p.Tag}
				out = append(out, Object{WorkloadEntry, ns, objectName(iface + "@" + p.Key() + "@" + p.Address()), &workloadEntry{
					address: p.Host, port: p.Port, labels: labels, weight: w,
				}})
			}
			for _, sel := range svc.Selections() {
				sub := subsetName(svc.Group, sel.Version, sel.Tag)
				dr.subsets = append(dr.subsets, subset{sub, map[string]string{LabelVersion: sel.Version, LabelGroup: svc.Group, LabelTag: sel.Tag}})
				if sel.Routed() {
					vs.routes = append(vs.routes, httpRoute{name: sub, subset: sub, headers: svc.Match(sel), policy: sel.Policy()})
				}
			}
		}
		sort.SliceStable(vs.routes, func(i, j int) bool { return dubboreg.TriedBefore(vs.routes[i].headers, vs.routes[j].headers) })
		out = append(out, Object{DestinationRule, ns, name, dr}, Object{VirtualService, ns, name, vs})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return kindIndex(out[i].Kind) < kindIndex(out[j].Kind)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func kindIndex(k Kind) int {
	for i, x := range Kinds {
		if x == k {
			return i
		}
	}
	return len(Kinds)
}

// objectName is a valid Kubernetes name (and label value) for s: lower
// case, dots and other characters as '-', at most 63 bytes with a hash
// suffix when shortened or changed beyond case.
func objectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	n := strings.Trim(b.String(), "-")
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:4])
	if len(n) > 50 {
		n = strings.Trim(n[:50], "-")
	}
	if n == "" {
		n = "dubbo"
	}
	return n + "-" + h
}

// subsetName names a selection's subset: v-<version>[-g-<group>][-t-<tag>].
func subsetName(group, version, tag string) string {
	n := "v-" + version
	if group != "" {
		n += "-g-" + group
	}
	if tag != "" {
		n += "-t-" + tag
	}
	return objectName(n)
}

// YAML renders objects as one multi-document YAML file.
func YAML(objs []Object) string {
	var b strings.Builder
	b.WriteString("# Written by meshproto's registry adapter from the Dubbo registry.\n")
	for _, o := range objs {
		fmt.Fprintf(&b, "---\napiVersion: networking.istio.io/v1alpha3\nkind: %s\nmetadata:\n  name: %s\n  namespace: %s\nspec:\n", o.Kind, o.Name, o.Namespace)
		o.Spec.yaml(&b, "  ")
	}
	return b.String()
}
