// Package dubboreg reads what Dubbo keeps in its registry: provider URLs
// (the nodes under /dubbo/<interface>/providers) and the dubbo-admin
// overrides (configurators) applied to them, into one model of services
// and their endpoints. It knows nothing of ZooKeeper or xDS: the watcher
// feeds it node names and rule documents, the translator reads the model.
package dubboreg

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultWeight is Dubbo's provider weight when the URL has none.
const DefaultWeight = 100

// Provider is one registered provider of one interface.
type Provider struct {
	Interface string
	Group     string
	Version   string
	Host      string
	Port      uint32
	Weight    uint32 // Dubbo's weight; 0 after an override means no traffic
	Tag       string // dubbo.tag
	App       string // application
	Methods   []string
	Disabled  bool   // an override set disabled=true
	Node      string // the registry node name as found (URL-encoded)
	// Policy is what the provider advertises to its consumers.
	Policy CallPolicy
}

// CallPolicy is the call timeout and retries a provider's URL advertises.
// Dubbo consumers take the provider's "timeout" and "retries" as their
// defaults (a consumer's own settings win), so a sidecar standing in for
// the consumer should too. The zero value advertises nothing.
type CallPolicy struct {
	Timeout time.Duration // "timeout" in ms; 0: not advertised
	// Retries is "retries", or 0 under a cluster other than failover:
	// failfast, failsafe, failback, forking, broadcast and available
	// never retry a call on another provider. Valid when HasRetries.
	Retries    uint32
	HasRetries bool
}

// MaxRetries bounds what a provider may advertise: a call is never sent
// more than MaxRetries+1 times, however a provider is configured.
const MaxRetries = 10

// parsePolicy reads "timeout", "retries" and "cluster". Empty values are
// not advertised (dubbo-go writes "retries=" when unset); what does not
// parse is an error, as Dubbo's consumer would fail on it at every call.
// Dubbo treats retries below 0 as 0 and a timeout of 0 or less as unset.
// Per-method values ("methods.<m>.retries", "<m>.timeout") are ignored:
// routes here are per service.
func parsePolicy(q url.Values) (CallPolicy, error) {
	var pol CallPolicy
	if v := q.Get("timeout"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return pol, fmt.Errorf("bad timeout %q", v)
		}
		if ms > 0 {
			pol.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	if v := q.Get("retries"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return pol, fmt.Errorf("bad retries %q", v)
		}
		pol.Retries, pol.HasRetries = uint32(min(max(n, 0), MaxRetries)), true
	}
	if c := q.Get("cluster"); c != "" && c != "failover" {
		pol.Retries, pol.HasRetries = 0, true
	}
	return pol, nil
}

// Address is host:port.
func (p Provider) Address() string { return net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))) }

// ServiceKey is Dubbo's service key: group/interface:version, with the
// empty parts left out.
func ServiceKey(iface, group, version string) string {
	k := iface
	if group != "" {
		k = group + "/" + k
	}
	if version != "" {
		k += ":" + version
	}
	return k
}

// Key is the provider's service key.
func (p Provider) Key() string { return ServiceKey(p.Interface, p.Group, p.Version) }

// maxNodeName bounds what one registry node name may hold; Dubbo URLs are
// a few hundred bytes to a few KiB (long method lists).
const maxNodeName = 64 << 10

// ParseProvider reads one node name under /dubbo/<interface>/providers.
// dir is the interface the node was found under: a URL naming another
// interface is refused (it would route one service's calls to another's
// providers).
func ParseProvider(dir, node string) (Provider, error) {
	if len(node) > maxNodeName {
		return Provider{}, fmt.Errorf("provider node of %d bytes (max %d)", len(node), maxNodeName)
	}
	raw, err := url.QueryUnescape(node)
	if err != nil {
		return Provider{}, fmt.Errorf("provider node %.80q: not URL-encoded: %w", node, err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Provider{}, fmt.Errorf("provider URL %.80q: %w", raw, err)
	}
	if u.Scheme != "dubbo" {
		return Provider{}, fmt.Errorf("provider URL %.80q: protocol %q, only dubbo is proxied", raw, u.Scheme)
	}
	host, portText, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return Provider{}, fmt.Errorf("provider URL %.80q: no host:port", raw)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return Provider{}, fmt.Errorf("provider URL %.80q: bad port %q", raw, portText)
	}
	if net.ParseIP(host) == nil {
		return Provider{}, fmt.Errorf("provider URL %.80q: host %q is not an IP address", raw, host)
	}
	q := u.Query()
	p := Provider{
		Interface: q.Get("interface"),
		Group:     q.Get("group"),
		Version:   q.Get("version"),
		Host:      host,
		Port:      uint32(port),
		Weight:    DefaultWeight,
		Tag:       q.Get("dubbo.tag"),
		App:       q.Get("application"),
		Node:      node,
	}
	if p.Interface == "" {
		p.Interface = strings.TrimPrefix(u.Path, "/")
	}
	if p.Interface == "" || p.Interface != dir {
		return Provider{}, fmt.Errorf("provider URL %.80q: interface %q registered under %q", raw, p.Interface, dir)
	}
	if w := q.Get("weight"); w != "" {
		n, err := strconv.ParseUint(w, 10, 31)
		if err != nil {
			return Provider{}, fmt.Errorf("provider URL %.80q: bad weight %q", raw, w)
		}
		p.Weight = uint32(n)
	}
	if p.Policy, err = parsePolicy(q); err != nil {
		return Provider{}, fmt.Errorf("provider URL %.80q: %w", raw, err)
	}
	if m := q.Get("methods"); m != "" {
		p.Methods = strings.Split(m, ",")
		sort.Strings(p.Methods)
	}
	if v := q.Get("enabled"); v == "false" {
		p.Disabled = true
	}
	if v := q.Get("disabled"); v == "true" {
		p.Disabled = true
	}
	return p, nil
}
