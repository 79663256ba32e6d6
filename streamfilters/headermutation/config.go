package headermutation

import (
	"fmt"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"sort"
	"strings"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
)

// Config of the meshproto_headers filter:
//
//	{
//	  "request": [
//	    {"match": {"service": {"prefix": "org.example."}}, "set": {"x-mesh-caller": "{service}/{method}"}, "remove": ["x-debug"]}
//	  ],
//	  "response": [
//	    {"match": {"headers": [{"name": "x-tenant", "present": true}]}, "set": {"x-tenant": "{header:x-tenant}", "x-served-via": "meshproto"}}
//	  ]
//	}
//
// Every request rule whose match holds is applied, in order, to the request
// (each rule matches against the request as the earlier rules left it).
// Response rules are matched against the request too (as the request rules
// left it, i.e. as it was forwarded) and applied to its response.
//
// A rule removes its "remove" keys, then sets its "set" keys (in key
// order). Set values are templates: {service} {method} {version} {group}
// {protocol} and {header:NAME} (a header of the request) are replaced by
// the request's values, rendered before the rule changes anything; '{'
// always starts a placeholder. A value that renders empty is not set.
// x-rpc-* keys are computed by the codec and cannot be set or removed.
type Config struct {
	Request  []RuleConfig `json:"request,omitempty"`
	Response []RuleConfig `json:"response,omitempty"`
}

// RuleConfig is one mutation rule; it needs set or remove, or both.
type RuleConfig struct {
	// Match selects the requests; an empty match selects every request.
	Match rpcmatch.Config `json:"match"`
	// Set maps a header key to a value template.
	Set map[string]string `json:"set,omitempty"`
	// Remove lists header keys to delete.
	Remove []string `json:"remove,omitempty"`
}

// config is a Config checked and compiled.
type config struct {
	request  []mutation
	response []mutation
}

// mutation is a compiled RuleConfig.
type mutation struct {
	matcher *rpcmatch.Matcher
	removes []string
	sets    []setOp // sorted by key
	// templated counts the sets whose value has placeholders.
	templated int
}

type setOp struct {
	key string
	val value
}

// value is a parsed set value: a literal (parts == nil), used as is, or a
// template.
type value struct {
	literal string
	parts   []part
}

// part is a literal (field == fieldLiteral) or a placeholder.
type part struct {
	field   field
	literal string
	header  string // for fieldHeader
}

type field uint8

const (
	fieldLiteral field = iota
	fieldService
	fieldMethod
	fieldVersion
	fieldGroup
	fieldProtocol
	fieldHeader
)

var fieldNames = map[string]field{
	"service":  fieldService,
	"method":   fieldMethod,
	"version":  fieldVersion,
	"group":    fieldGroup,
	"protocol": fieldProtocol,
}

// parseConfig reads the filter's JSON config map as MOSN hands it over.
func parseConfig(conf map[string]interface{}) (*config, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return nil, err
	}
	out := &config{}
	var err error
	if out.request, err = compileRules("request", c.Request); err != nil {
		return nil, fmt.Errorf("%s: config: %w", FilterName, err)
	}
	if out.response, err = compileRules("response", c.Response); err != nil {
		return nil, fmt.Errorf("%s: config: %w", FilterName, err)
	}
	return out, nil
}

func compileRules(path string, rules []RuleConfig) ([]mutation, error) {
	out := make([]mutation, 0, len(rules))
	for i, rc := range rules {
		m, err := compileRule(fmt.Sprintf("%s[%d]", path, i), rc)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func compileRule(field string, rc RuleConfig) (mutation, error) {
	if len(rc.Set) == 0 && len(rc.Remove) == 0 {
		return mutation{}, fmt.Errorf("%s: nothing to do; want set or remove", field)
	}
	matcher, err := rpcmatch.Compile(field+".match", rc.Match)
	if err != nil {
		return mutation{}, err
	}
	m := mutation{matcher: matcher}
	for i, k := range rc.Remove {
		f := fmt.Sprintf("%s.remove[%d]", field, i)
		if err := checkKey(f, k); err != nil {
			return mutation{}, err
		}
		if _, both := rc.Set[k]; both {
			return mutation{}, fmt.Errorf("%s %q: also in set; a rule either sets or removes a key", f, k)
		}
		m.removes = append(m.removes, k)
	}
	keys := make([]string, 0, len(rc.Set))
	for k := range rc.Set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := fmt.Sprintf("%s.set[%q]", field, k)
		if err := checkKey(field+".set", k); err != nil {
			return mutation{}, err
		}
		v, err := parseValue(rc.Set[k])
		if err != nil {
			return mutation{}, fmt.Errorf("%s %q: %w", f, rc.Set[k], err)
		}
		if v.parts != nil {
			m.templated++
		}
		m.sets = append(m.sets, setOp{key: k, val: v})
	}
	return m, nil
}

// checkKey rejects keys the codecs would silently ignore.
func checkKey(field, k string) error {
	if k == "" {
		return fmt.Errorf("%s: empty header key", field)
	}
	if rpcmeta.IsReserved(strings.ToLower(k)) {
		return fmt.Errorf("%s key %q: %s* keys are computed by the codec and read-only", field, k, rpcmeta.ReservedPrefix)
	}
	return nil
}

// parseValue parses a set value once, at config time.
func parseValue(s string) (value, error) {
	if s == "" {
		return value{}, fmt.Errorf("empty value; use remove to delete a header")
	}
	if !strings.Contains(s, "{") {
		return value{literal: s}, nil
	}
	var parts []part
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			parts = append(parts, part{literal: rest})
			break
		}
		if i > 0 {
			parts = append(parts, part{literal: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return value{}, fmt.Errorf("unclosed '{'")
		}
		p, err := placeholder(rest[i+1 : i+j])
		if err != nil {
			return value{}, err
		}
		parts = append(parts, p)
		rest = rest[i+j+1:]
	}
	return value{parts: parts}, nil
}

func placeholder(name string) (part, error) {
	if f, ok := fieldNames[name]; ok {
		return part{field: f}, nil
	}
	if h, ok := strings.CutPrefix(name, "header:"); ok && h != "" {
		return part{field: fieldHeader, header: h}, nil
	}
	return part{}, fmt.Errorf("unknown placeholder {%s}; want service, method, version, group, protocol or header:NAME", name)
}

// get is one part's value for req.
func (p *part) get(req rpcmeta.Request) string {
	switch p.field {
	case fieldService:
		return req.Service()
	case fieldMethod:
		return req.Method()
	case fieldVersion:
		return req.Version()
	case fieldGroup:
		return req.Group()
	case fieldProtocol:
		return req.RPCProtocol()
	case fieldHeader:
		v, _ := req.Get(p.header)
		return v
	}
	return p.literal
}

// render returns the value for req. A literal, or a template that is one
// placeholder, costs no allocation.
func (v *value) render(req rpcmeta.Request) string {
	switch len(v.parts) {
	case 0:
		return v.literal
	case 1:
		return v.parts[0].get(req)
	}
	var b strings.Builder
	for i := range v.parts {
		b.WriteString(v.parts[i].get(req))
	}
	return b.String()
}
