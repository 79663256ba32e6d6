// Package rpcmatch is the request matcher every governance filter shares:
// service, method, headers (attachments, THeader headers) and source
// address, each with exact, prefix or regex matching. It reads requests
// through rpcmeta.Request only, so it works for every protocol.
//
// JSON:
//
//	{
//	  "service": {"exact": "org.example.Greeter"},
//	  "method":  {"prefix": "get"},
//	  "headers": [{"name": "x-tag", "regex": "^(gray|blue)$"}, {"name": "tenant", "present": false}],
//	  "source_ips": ["10.0.0.0/8", "127.0.0.1"],
//	  "protocols": ["dubbo"]
//	}
//
// Every condition given must hold; an empty matcher matches everything.
package rpcmatch

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"

	"mosn.io/api"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// StringMatch is exactly one of exact, prefix or regex (RE2, anchored as
// written). invert negates it.
type StringMatch struct {
	Exact  *string `json:"exact,omitempty"`
	Prefix string  `json:"prefix,omitempty"`
	Regex  string  `json:"regex,omitempty"`
	Invert bool    `json:"invert,omitempty"`
}

// HeaderMatch matches one header by name. With present set (true or
// false) it only tests presence; otherwise the value must match.
type HeaderMatch struct {
	Name    string `json:"name"`
	Present *bool  `json:"present,omitempty"`
	StringMatch
}

// Config is one matcher.
type Config struct {
	Service   *StringMatch  `json:"service,omitempty"`
	Method    *StringMatch  `json:"method,omitempty"`
	Headers   []HeaderMatch `json:"headers,omitempty"`
	SourceIPs []string      `json:"source_ips,omitempty"`
	Protocols []string      `json:"protocols,omitempty"`
}

// stringMatcher is a compiled StringMatch.
type stringMatcher struct {
	exact    string
	hasExact bool
	prefix   string
	re       *regexp.Regexp
	invert   bool
}

func (m *stringMatcher) match(v string) bool {
	var ok bool
	switch {
	case m.hasExact:
		ok = v == m.exact
	case m.re != nil:
		ok = m.re.MatchString(v)
	default:
		ok = strings.HasPrefix(v, m.prefix)
	}
	return ok != m.invert
}

func compileString(field string, c StringMatch) (*stringMatcher, error) {
	n := 0
	if c.Exact != nil {
		n++
	}
	if c.Prefix != "" {
		n++
	}
	if c.Regex != "" {
		n++
	}
	if n != 1 {
		return nil, fmt.Errorf("%s: want exactly one of exact, prefix, regex (got %d)", field, n)
	}
	m := &stringMatcher{prefix: c.Prefix, invert: c.Invert}
	if c.Exact != nil {
		m.exact, m.hasExact = *c.Exact, true
	}
	if c.Regex != "" {
		re, err := regexp.Compile(c.Regex)
		if err != nil {
			return nil, fmt.Errorf("%s.regex %q: %w", field, c.Regex, err)
		}
		m.re = re
	}
	return m, nil
}

type headerMatcher struct {
	name    string
	present *bool
	value   *stringMatcher
}

// KnownProtocols are the names protocols matchers accept: a typo would
// otherwise silently never match. A new compiled codec adds its name here;
// a spec-driven one registers it (rpcmeta.RegisterProtocolName) when its
// spec is loaded.
var KnownProtocols = []string{"dubbo", "thrift", "bolt"}

func knownProtocol(name string) bool {
	return contains(KnownProtocols, name) || rpcmeta.ProtocolNameRegistered(name)
}

// Matcher is a compiled Config.
type Matcher struct {
	service, method *stringMatcher
	headers         []headerMatcher
	prefixes        []netip.Prefix
	protocols       []string
}

// Compile checks c; errors name the field (under path) and the bad value.
func Compile(path string, c Config) (*Matcher, error) {
	m := &Matcher{protocols: c.Protocols}
	var err error
	if c.Service != nil {
		if m.service, err = compileString(path+".service", *c.Service); err != nil {
			return nil, err
		}
	}
	if c.Method != nil {
		if m.method, err = compileString(path+".method", *c.Method); err != nil {
			return nil, err
		}
	}
	for i, h := range c.Headers {
		field := fmt.Sprintf("%s.headers[%d]", path, i)
		if h.Name == "" {
			return nil, fmt.Errorf("%s.name: missing", field)
		}
		hm := headerMatcher{name: h.Name, present: h.Present}
		if h.Present == nil {
			if hm.value, err = compileString(field, h.StringMatch); err != nil {
				return nil, err
			}
		}
		m.headers = append(m.headers, hm)
	}
	for i, proto := range c.Protocols {
		if !knownProtocol(proto) {
			return nil, fmt.Errorf("%s.protocols[%d] %q: want one of %v", path, i, proto, KnownProtocols)
		}
	}
	for i, s := range c.SourceIPs {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s.source_ips[%d] %q: want an IP or a CIDR", path, i, s)
		}
		m.prefixes = append(m.prefixes, p)
	}
	return m, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Match reports whether req (from source address src, which may be nil)
// meets every condition.
func (m *Matcher) Match(req rpcmeta.Request, src net.Addr) bool {
	if len(m.protocols) > 0 && !contains(m.protocols, req.RPCProtocol()) {
		return false
	}
	if m.service != nil && !m.service.match(req.Service()) {
		return false
	}
	if m.method != nil && !m.method.match(req.Method()) {
		return false
	}
	for _, h := range m.headers {
		v, ok := req.Get(h.name)
		if h.present != nil {
			if ok != *h.present {
				return false
			}
			continue
		}
		if !ok || !h.value.match(v) {
			return false
		}
	}
	if len(m.prefixes) > 0 {
		ip, ok := addrIP(src)
		if !ok {
			return false
		}
		in := false
		for _, p := range m.prefixes {
			if p.Contains(ip) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

// addrIP extracts the IP of a TCP (or any host:port) address.
func addrIP(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	if t, ok := a.(*net.TCPAddr); ok {
		ip, ok := netip.AddrFromSlice(t.IP)
		return ip.Unmap(), ok
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Source is the downstream client's address for Match, or nil when the
// stream has no handler or connection (source_ips rules then never match).
func Source(h api.StreamReceiverFilterHandler) net.Addr {
	if h == nil {
		return nil
	}
	conn := h.Connection()
	if conn == nil {
		return nil
	}
	return conn.RemoteAddr()
}
