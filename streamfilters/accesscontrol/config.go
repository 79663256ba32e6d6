package accesscontrol

import (
	"fmt"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
)

// Config of the meshproto_access filter:
//
//	{
//	  "default_action": "deny",
//	  "rules": [
//	    {"name": "ops", "action": "allow", "match": {"source_ips": ["10.1.0.0/16"]}},
//	    {"name": "no-admin", "action": "deny", "match": {"method": {"prefix": "admin"}}}
//	  ],
//	  "deny_error": {"http_status": 403, "message": "go away", "native": {"dubbo": 40, "thrift": 1}}
//	}
//
// The first rule whose match holds decides; when none does, default_action
// (default "allow") decides. A denied request is answered by the proxy with
// deny_error (see rpcmeta.ErrorConfig): http_status defaults to 403, the
// message to one naming the rule, and native to what the codec maps 403 to.
type Config struct {
	DefaultAction Action              `json:"default_action,omitempty"`
	Rules         []RuleConfig        `json:"rules,omitempty"`
	DenyError     rpcmeta.ErrorConfig `json:"deny_error"`
}

// RuleConfig is one access rule.
type RuleConfig struct {
	// Name labels the rule in the deny message, Stats and the MOSN
	// metric; required and unique, and not DefaultRuleName.
	Name string `json:"name"`
	// Action is "allow" or "deny"; required.
	Action Action `json:"action"`
	// Match selects the requests; an empty match selects every request.
	Match rpcmatch.Config `json:"match"`
}

// Action is "allow" or "deny".
type Action string

// Actions.
const (
	Allow Action = "allow"
	Deny  Action = "deny"
)

// DefaultRuleName is the rule name under which requests decided by
// default_action are counted (Stats, and the MOSN metric's rule label).
const DefaultRuleName = "default"

// rule is a RuleConfig checked and compiled, with its counters.
type rule struct {
	name    string
	deny    bool
	matcher *rpcmatch.Matcher // nil for the default action
	counter
}

// policy is a Config checked and compiled.
type policy struct {
	rules     []*rule
	fallback  *rule
	denyError rpcmeta.ErrorConfig
}

// parseConfig reads the filter's JSON config map as MOSN hands it over.
// It compiles everything but the MOSN metrics (see newCounters).
func parseConfig(conf map[string]interface{}) (*policy, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return nil, err
	}
	setDefaults(&c)
	p, err := compile(c)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", FilterName, err)
	}
	return p, nil
}

// setDefaults fills in every default in one place.
func setDefaults(c *Config) {
	if c.DefaultAction == "" {
		c.DefaultAction = Allow
	}
}

func checkAction(field string, a Action) error {
	switch a {
	case Allow, Deny:
		return nil
	case "":
		return fmt.Errorf("%s: missing; want \"allow\" or \"deny\"", field)
	}
	return fmt.Errorf("%s %q: want \"allow\" or \"deny\"", field, string(a))
}

func compile(c Config) (*policy, error) {
	if err := checkAction("default_action", c.DefaultAction); err != nil {
		return nil, err
	}
	if err := c.DenyError.Validate("deny_error"); err != nil {
		return nil, err
	}
	p := &policy{
		rules:     make([]*rule, 0, len(c.Rules)),
		fallback:  &rule{name: DefaultRuleName, deny: c.DefaultAction == Deny},
		denyError: c.DenyError,
	}
	seen := make(map[string]int, len(c.Rules))
	for i, rc := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		switch {
		case rc.Name == "":
			return nil, fmt.Errorf("%s.name: missing", field)
		case rc.Name == DefaultRuleName:
			return nil, fmt.Errorf("%s.name %q: reserved for the default action's counters", field, rc.Name)
		}
		if j, dup := seen[rc.Name]; dup {
			return nil, fmt.Errorf("%s.name %q: already used by rules[%d]", field, rc.Name, j)
		}
		seen[rc.Name] = i
		if err := checkAction(field+".action", rc.Action); err != nil {
			return nil, err
		}
		m, err := rpcmatch.Compile(field+".match", rc.Match)
		if err != nil {
			return nil, err
		}
		p.rules = append(p.rules, &rule{name: rc.Name, deny: rc.Action == Deny, matcher: m})
	}
	return p, nil
}

// action names what r does.
func (r *rule) action() Action {
	if r.deny {
		return Deny
	}
	return Allow
}
