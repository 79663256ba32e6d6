package metadata

import (
	"encoding/json"
	"fmt"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"strings"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
)

// Config of the meshproto_metadata filter:
//
//	{"type": "meshproto_metadata", "config": {"host": "{service}"}}
//	{"type": "meshproto_metadata", "config": {"host": ["{service}:{version}", "{service}"]}}
//
// host is a template, or a list of templates tried in order: the first one
// whose placeholders are all non-empty becomes MOSN's host variable
// (x-mosn-host), which selects the virtual host by domain. Placeholders:
// {service} {method} {version} {group} {protocol} and {header:NAME} for an
// attachment. Default: "{service}".
//
// timeout decides which timeout the proxy enforces when both the request
// (Dubbo's "timeout" attachment) and the route set one: "min" (default)
// takes the smaller, "client" keeps MOSN's behaviour (the request's wins).
type Config struct {
	Host    HostTemplates `json:"host,omitempty"`
	Timeout TimeoutPolicy `json:"timeout,omitempty"`
}

// TimeoutPolicy is "min" or "client".
type TimeoutPolicy string

// Timeout policies.
const (
	TimeoutMin    TimeoutPolicy = "min"
	TimeoutClient TimeoutPolicy = "client"
)

// parsedConfig is Config checked and compiled.
type parsedConfig struct {
	templates []template
	timeout   TimeoutPolicy
}

// HostTemplates accepts a JSON string or a list of strings.
type HostTemplates []string

// UnmarshalJSON takes "tpl" or ["tpl", ...].
func (h *HostTemplates) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*h = HostTemplates{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("host: want a template string or a list of them: %w", err)
	}
	*h = many
	return nil
}

// segment is a literal (field == "") or a placeholder.
type segment struct {
	literal string
	field   string // service, method, version, group, protocol, header
	header  string // for field == "header"
}

// template is a parsed host template.
type template struct {
	segments []segment
	// onlyService is the common "{service}" case, rendered without copying.
	onlyService bool
}

// parseTemplate checks a template once, at startup.
func parseTemplate(s string) (template, error) {
	if s == "" {
		return template{}, fmt.Errorf("host template is empty")
	}
	var t template
	rest := s
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			t.segments = append(t.segments, segment{literal: rest})
			break
		}
		if i > 0 {
			t.segments = append(t.segments, segment{literal: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return template{}, fmt.Errorf("host template %q: unclosed '{'", s)
		}
		name := rest[i+1 : i+j]
		seg, err := placeholder(name)
		if err != nil {
			return template{}, fmt.Errorf("host template %q: %w", s, err)
		}
		t.segments = append(t.segments, seg)
		rest = rest[i+j+1:]
	}
	t.onlyService = len(t.segments) == 1 && t.segments[0].field == "service"
	return t, nil
}

func placeholder(name string) (segment, error) {
	switch name {
	case "service", "method", "version", "group", "protocol":
		return segment{field: name}, nil
	}
	if h, ok := strings.CutPrefix(name, "header:"); ok && h != "" {
		return segment{field: "header", header: h}, nil
	}
	return segment{}, fmt.Errorf("unknown placeholder {%s}; want service, method, version, group, protocol or header:NAME", name)
}

// value returns one placeholder's value for a request.
func (s segment) value(req rpcmeta.Request) string {
	switch s.field {
	case "service":
		return req.Service()
	case "method":
		return req.Method()
	case "version":
		return req.Version()
	case "group":
		return req.Group()
	case "protocol":
		return req.RPCProtocol()
	case "header":
		v, _ := req.Get(s.header)
		return v
	}
	return s.literal
}

// render returns the host, or "" when a placeholder is empty.
func (t template) render(req rpcmeta.Request) string {
	if t.onlyService {
		return req.Service()
	}
	var b strings.Builder
	for _, s := range t.segments {
		if s.field == "" {
			b.WriteString(s.literal)
			continue
		}
		v := s.value(req)
		if v == "" {
			return ""
		}
		b.WriteString(v)
	}
	return b.String()
}

// parseConfig reads the filter's JSON config map as MOSN hands it over.
func parseConfig(conf map[string]interface{}) (parsedConfig, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return parsedConfig{}, err
	}
	switch c.Timeout {
	case "":
		c.Timeout = TimeoutMin
	case TimeoutMin, TimeoutClient:
	default:
		return parsedConfig{}, fmt.Errorf("%s: config: timeout %q: want \"min\" or \"client\"", FilterName, c.Timeout)
	}
	if len(c.Host) == 0 {
		c.Host = HostTemplates{"{service}"}
	}
	out := parsedConfig{timeout: c.Timeout, templates: make([]template, 0, len(c.Host))}
	for _, s := range c.Host {
		t, err := parseTemplate(s)
		if err != nil {
			return parsedConfig{}, fmt.Errorf("%s: config: %w", FilterName, err)
		}
		out.templates = append(out.templates, t)
	}
	return out, nil
}
