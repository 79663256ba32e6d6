package dubboreg

import (
	"sort"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Registry is what the registry holds at one moment: every provider node
// per interface and every rule document, as read. It is a value: the
// watcher builds a new one for every change.
type Registry struct {
	Providers map[string][]string // interface -> provider node names
	Rules     map[string][]byte   // rule node name -> document
}

// Service is one interface and group as the proxy routes it: the
// providers in effect after overrides, sorted by address.
type Service struct {
	Interface string
	Group     string
	Providers []Provider
}

// Model is the routed view of a Registry.
type Model struct {
	Services []Service // sorted by interface, then group
	// Problems: provider nodes that could not be read and rule items
	// that were not applied, one line each, for the log.
	Problems []string
}

// Build reads a Registry into a Model. Unreadable nodes and rules are
// reported in Problems and left out; everything else is applied.
func Build(r Registry) Model {
	var m Model
	var overrides []Override
	var tags []*TagRule
	ruleNames := make([]string, 0, len(r.Rules))
	for n := range r.Rules {
		ruleNames = append(ruleNames, n)
	}
	sort.Strings(ruleNames)
	for _, name := range ruleNames {
		key, kind, ok := RuleNode(name)
		if !ok {
			continue
		}
		switch kind {
		case Configurators:
			o, skipped, err := ParseConfigurators(key, r.Rules[name])
			if err != nil {
				m.Problems = append(m.Problems, err.Error()+": rule ignored")
				continue
			}
			for _, s := range skipped {
				m.Problems = append(m.Problems, "configurators "+key+": "+s+": item ignored")
			}
			overrides = append(overrides, o...)
		case TagRouter:
			t, err := ParseTagRouter(key, r.Rules[name])
			if err != nil {
				m.Problems = append(m.Problems, err.Error()+": rule ignored")
				continue
			}
			if t != nil {
				tags = append(tags, t)
			}
		default:
			m.Problems = append(m.Problems, string(kind)+" "+key+": rule kind not supported by the proxy: ignored")
		}
	}

	type sk struct{ iface, group string }
	byService := map[sk][]Provider{}
	ifaces := make([]string, 0, len(r.Providers))
	for i := range r.Providers {
		ifaces = append(ifaces, i)
	}
	sort.Strings(ifaces)
	for _, iface := range ifaces {
		seen := map[string]bool{}
		for _, node := range r.Providers[iface] {
			p, err := ParseProvider(iface, node)
			if err != nil {
				m.Problems = append(m.Problems, err.Error()+": provider ignored")
				continue
			}
			for _, o := range overrides {
				if o.selects(p) {
					if o.Weight != nil {
						p.Weight = *o.Weight
					}
					if o.Disabled != nil {
						p.Disabled = *o.Disabled
					}
				}
			}
			for _, t := range tags {
				if tag, ok := t.tagOf(p); ok {
					p.Tag = tag
				}
			}
			// One endpoint per address and service key: a provider that
			// re-registered with a changed URL is listed once.
			id := p.Key() + "@" + p.Address()
			if seen[id] {
				continue
			}
			seen[id] = true
			k := sk{iface, p.Group}
			byService[k] = append(byService[k], p)
		}
		if len(seen) == 0 {
			// An interface with no provider left is still a service: its
			// (empty) endpoints are published, so calls fail fast.
			byService[sk{iface, ""}] = nil
		}
	}
	for k, ps := range byService {
		sort.Slice(ps, func(i, j int) bool {
			if ps[i].Address() != ps[j].Address() {
				return ps[i].Address() < ps[j].Address()
			}
			return ps[i].Key() < ps[j].Key()
		})
		m.Services = append(m.Services, Service{Interface: k.iface, Group: k.group, Providers: ps})
	}
	sort.Slice(m.Services, func(i, j int) bool {
		if m.Services[i].Interface != m.Services[j].Interface {
			return m.Services[i].Interface < m.Services[j].Interface
		}
		return m.Services[i].Group < m.Services[j].Group
	})
	return m
}

// Count is the number of providers in effect (disabled ones included).
func (m Model) Count() int {
	n := 0
	for _, s := range m.Services {
		n += len(s.Providers)
	}
	return n
}

// Selection is one set of providers a call can select, as Dubbo selects
// them: one version and one tag ("" = untagged) of a service.
type Selection struct {
	Version, Tag string
	// Providers that take traffic (not disabled, weight above 0).
	Providers []Provider
}

// Selections lists, per version (sorted), a selection per tag (sorted)
// and then the untagged one. A tag whose providers take no traffic is
// listed with none: a call with that tag falls back to the untagged
// providers, as Dubbo's TagRouter does, so translators give it no route.
func (s Service) Selections() []Selection {
	type key struct{ version, tag string }
	live := map[key][]Provider{}
	tags := map[string]map[string]bool{}
	for _, p := range s.Providers {
		if tags[p.Version] == nil {
			tags[p.Version] = map[string]bool{}
		}
		if p.Tag != "" {
			tags[p.Version][p.Tag] = true
		}
		if !p.Disabled && p.Weight > 0 {
			live[key{p.Version, p.Tag}] = append(live[key{p.Version, p.Tag}], p)
		}
	}
	versions := make([]string, 0, len(tags))
	for v := range tags {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	var out []Selection
	for _, v := range versions {
		tagList := make([]string, 0, len(tags[v]))
		for t := range tags[v] {
			tagList = append(tagList, t)
		}
		sort.Strings(tagList)
		for _, t := range append(tagList, "") {
			out = append(out, Selection{Version: v, Tag: t, Providers: live[key{v, t}]})
		}
	}
	return out
}

// Policy is the call policy for a route to sel, from what its providers
// advertise: the longest timeout (a call is never cut shorter than a
// provider expects) and the fewest retries (never more attempts than a
// provider allows). What no provider advertises stays unset, for the
// translator's defaults.
func (sel Selection) Policy() CallPolicy {
	var pol CallPolicy
	for _, p := range sel.Providers {
		pol.Timeout = max(pol.Timeout, p.Policy.Timeout)
		if p.Policy.HasRetries && (!pol.HasRetries || p.Policy.Retries < pol.Retries) {
			pol.Retries, pol.HasRetries = p.Policy.Retries, true
		}
	}
	return pol
}

// TagKey is Dubbo's tag attachment, a request header under meshproto.
const TagKey = "dubbo.tag"

// Routed reports whether calls get a route to sel. A tag whose providers
// take no traffic gets none: its calls fall back to the untagged
// providers, as Dubbo's TagRouter does.
func (sel Selection) Routed() bool { return sel.Tag == "" || len(sel.Providers) > 0 }

// Header is one exact request-header match.
type Header struct{ Name, Value string }

// Match is what a route to sel matches: the group and version headers and
// the tag attachment, in that order, each only when set. A route for an
// empty group or version names no such header, so it matches calls with
// any: TriedBefore orders such routes after the others.
func (s Service) Match(sel Selection) []Header {
	var hs []Header
	if s.Group != "" {
		hs = append(hs, Header{rpcmeta.KeyGroup, s.Group})
	}
	if sel.Version != "" {
		hs = append(hs, Header{rpcmeta.KeyVersion, sel.Version})
	}
	if sel.Tag != "" {
		hs = append(hs, Header{TagKey, sel.Tag})
	}
	return hs
}

// TriedBefore orders the routes of one interface as the proxy must try
// them (the first route whose headers all match wins): more headers
// first; among equals, one naming a group, so that a call of group g with
// version 1.0.0 reaches g's version-less providers and never the
// group-less 1.0.0 ones (Dubbo never crosses groups).
func TriedBefore(a, b []Header) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return namesGroup(a) && !namesGroup(b)
}

func namesGroup(hs []Header) bool {
	for _, h := range hs {
		if h.Name == rpcmeta.KeyGroup {
			return true
		}
	}
	return false
}
