package istiomcp

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshproto/meshproto/internal/dubboreg"
)

// Field numbers are those of istio.io/api networking/v1alpha3 (the proto
// package Istio's v1 and v1beta1 kinds share).

type serviceEntry struct {
	hosts    []string
	port     uint32
	selector map[string]string
}

func (*serviceEntry) typeURL() string {
	return "type.googleapis.com/istio.networking.v1alpha3.ServiceEntry"
}

func (s *serviceEntry) proto() []byte {
	var b []byte
	for _, h := range s.hosts {
		b = str(b, 1, h) // hosts
	}
	var port []byte
	port = varint(port, 1, uint64(s.port))    // number
	port = str(port, 2, "HTTP")               // protocol
	port = str(port, 3, "http-rpc")           // name
	b = msg(b, 3, port)                       // ports
	b = varint(b, 4, 1)                       // location MESH_INTERNAL
	b = varint(b, 5, 1)                       // resolution STATIC
	b = msg(b, 9, strMap(nil, 1, s.selector)) // workload_selector.labels
	return b
}

func (s *serviceEntry) yaml(b *strings.Builder, in string) {
	fmt.Fprintf(b, "%shosts: [%s]\n%slocation: MESH_INTERNAL\n%sresolution: STATIC\n", in, quoteList(s.hosts), in, in)
	fmt.Fprintf(b, "%sports:\n%s- {number: %d, name: http-rpc, protocol: HTTP}\n", in, in, s.port)
	fmt.Fprintf(b, "%sworkloadSelector:\n%s  labels: %s\n", in, in, flowMap(s.selector))
}

type workloadEntry struct {
	address string
	port    uint32
	labels  map[string]string
	weight  uint32
}

func (*workloadEntry) typeURL() string {
	return "type.googleapis.com/istio.networking.v1alpha3.WorkloadEntry"
}

func (w *workloadEntry) proto() []byte {
	var b []byte
	b = str(b, 1, w.address)
	var entry []byte
	entry = str(entry, 1, "http-rpc")
	entry = varint(entry, 2, uint64(w.port))
	b = msg(b, 2, entry) // ports map<string, uint32>
	b = strMap(b, 3, w.labels)
	b = varint(b, 6, uint64(w.weight))
	return b
}

func (w *workloadEntry) yaml(b *strings.Builder, in string) {
	fmt.Fprintf(b, "%saddress: %s\n%sports: {http-rpc: %d}\n%slabels: %s\n%sweight: %d\n", in, quote(w.address), in, w.port, in, flowMap(w.labels), in, w.weight)
}

type subset struct {
	name   string
	labels map[string]string
}

type destinationRule struct {
	host    string
	subsets []subset
}

func (*destinationRule) typeURL() string {
	return "type.googleapis.com/istio.networking.v1alpha3.DestinationRule"
}

func (d *destinationRule) proto() []byte {
	var b []byte
	b = str(b, 1, d.host)
	for _, s := range d.subsets {
		var sb []byte
		sb = str(sb, 1, s.name)
		sb = strMap(sb, 2, s.labels)
		b = msg(b, 3, sb)
	}
	return b
}

func (d *destinationRule) yaml(b *strings.Builder, in string) {
	fmt.Fprintf(b, "%shost: %s\n%ssubsets:\n", in, quote(d.host), in)
	for _, s := range d.subsets {
		fmt.Fprintf(b, "%s- name: %s\n%s  labels: %s\n", in, s.name, in, flowMap(s.labels))
	}
}

type httpRoute struct {
	name    string
	headers []dubboreg.Header // exact matches
	subset  string
	// policy is what the subset's providers advertise: a timeout, and
	// retries (attempts 0 turns Istio's default of 2 retries off). What
	// they do not advertise is left to Istio's defaults.
	policy dubboreg.CallPolicy
}

type virtualService struct {
	host   string
	port   uint32
	routes []httpRoute
}

func (*virtualService) typeURL() string {
	return "type.googleapis.com/istio.networking.v1alpha3.VirtualService"
}

func (v *virtualService) proto() []byte {
	var b []byte
	b = str(b, 1, v.host)
	for _, r := range v.routes {
		var match []byte
		for _, h := range r.headers {
			var entry []byte
			entry = str(entry, 1, h.Name)
			entry = msg(entry, 2, str(nil, 1, h.Value)) // StringMatch.exact
			match = msg(match, 5, entry)                // headers map<string, StringMatch>
		}
		var dest []byte
		dest = str(dest, 1, v.host)
		dest = str(dest, 2, r.subset)
		dest = msg(dest, 3, varint(nil, 1, uint64(v.port))) // port.number
		var route []byte
		route = msg(route, 1, dest) // destination
		var hr []byte
		hr = str(hr, 17, r.name)
		if len(match) > 0 {
			hr = msg(hr, 1, match)
		}
		hr = msg(hr, 2, route)
		if t := r.policy.Timeout; t > 0 {
			hr = msg(hr, 6, duration(t)) // timeout
		}
		if r.policy.HasRetries {
			var retry []byte
			if n := r.policy.Retries; n > 0 {
				retry = varint(retry, 1, uint64(n)) // attempts
			}
			hr = msg(hr, 7, retry) // retries
		}
		b = msg(b, 3, hr) // http
	}
	return b
}

func (v *virtualService) yaml(b *strings.Builder, in string) {
	fmt.Fprintf(b, "%shosts: [%s]\n%shttp:\n", in, quote(v.host), in)
	for _, r := range v.routes {
		fmt.Fprintf(b, "%s- name: %s\n", in, r.name)
		if len(r.headers) > 0 {
			fmt.Fprintf(b, "%s  match:\n%s  - headers:\n", in, in)
			for _, h := range r.headers {
				fmt.Fprintf(b, "%s      %s: {exact: %s}\n", in, h.Name, quote(h.Value))
			}
		}
		fmt.Fprintf(b, "%s  route:\n%s  - destination: {host: %s, subset: %s, port: {number: %d}}\n", in, in, quote(v.host), r.subset, v.port)
		if t := r.policy.Timeout; t > 0 {
			fmt.Fprintf(b, "%s  timeout: %gs\n", in, t.Seconds())
		}
		if r.policy.HasRetries {
			fmt.Fprintf(b, "%s  retries: {attempts: %d}\n", in, r.policy.Retries)
		}
	}
}

// protowire helpers.

func str(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func varint(b []byte, field protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// duration is a google.protobuf.Duration message.
func duration(d time.Duration) []byte {
	var b []byte
	if s := int64(d / time.Second); s != 0 {
		b = varint(b, 1, uint64(s))
	}
	if n := int64(d % time.Second); n != 0 {
		b = varint(b, 2, uint64(n))
	}
	return b
}

func msg(b []byte, field protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// strMap appends a map<string, string> field, entries sorted (the
// encoding is deterministic, so an unchanged registry is an unchanged
// resource).
func strMap(b []byte, field protowire.Number, m map[string]string) []byte {
	for _, k := range sortedKeys(m) {
		var entry []byte
		entry = str(entry, 1, k)
		entry = str(entry, 2, m[k])
		b = msg(b, field, entry)
	}
	return b
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// YAML helpers: values are quoted, so versions like 1.0 stay strings.

func quote(s string) string { return strconv.Quote(s) }

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return strings.Join(q, ", ")
}

func flowMap(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKeys(m) {
		parts = append(parts, quote(k)+": "+quote(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
