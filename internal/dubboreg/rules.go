package dubboreg

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// RuleKind is the suffix of a rule node under /dubbo/config/dubbo.
type RuleKind string

// The rule kinds dubbo-admin writes.
const (
	Configurators   RuleKind = "configurators"
	TagRouter       RuleKind = "tag-router"
	ConditionRouter RuleKind = "condition-router"
)

// RuleNode splits a rule node name ("<key>.configurators") into its key
// and kind; ok is false for names that are no rule.
func RuleNode(name string) (key string, kind RuleKind, ok bool) {
	for _, k := range []RuleKind{Configurators, TagRouter, ConditionRouter} {
		if strings.HasSuffix(name, "."+string(k)) {
			return strings.TrimSuffix(name, "."+string(k)), k, true
		}
	}
	return "", "", false
}

// Override is one applicable item of a configurators rule (Dubbo 2.7
// format): providers it selects get its weight and disabled flag.
type Override struct {
	Rule      string   // node key, for logs
	App       string   // scope application: the providers' application
	Service   string   // scope service: the service key it names
	Addresses []string // provider ip:port, or "0.0.0.0" for all
	Weight    *uint32
	Disabled  *bool
}

// configuratorDoc is the YAML dubbo-admin writes.
type configuratorDoc struct {
	ConfigVersion string `yaml:"configVersion"`
	Scope         string `yaml:"scope"`
	Key           string `yaml:"key"`
	Enabled       *bool  `yaml:"enabled"`
	Configs       []struct {
		Side              string            `yaml:"side"`
		Addresses         []string          `yaml:"addresses"`
		ProviderAddresses []string          `yaml:"providerAddresses"`
		Applications      []string          `yaml:"applications"`
		Services          []string          `yaml:"services"`
		Enabled           *bool             `yaml:"enabled"`
		Parameters        map[string]string `yaml:"parameters"`
	} `yaml:"configs"`
}

// supportedParameters are the override parameters the proxy applies.
var supportedParameters = map[string]bool{"weight": true, "disabled": true}

// ParseConfigurators reads a configurators rule. Items the proxy cannot
// apply in full (parameters other than weight and disabled, consumer-side
// items naming consumers) are returned as skipped with the reason, and
// not applied at all: a rule is never half applied.
func ParseConfigurators(nodeKey string, doc []byte) (overrides []Override, skipped []string, err error) {
	var d configuratorDoc
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return nil, nil, fmt.Errorf("configurators %s: %w", nodeKey, err)
	}
	if d.Enabled != nil && !*d.Enabled {
		return nil, nil, nil
	}
	key := d.Key
	if key == "" {
		key = nodeKey
	}
	var app, service string
	switch d.Scope {
	case "application":
		app = key
	case "service", "":
		service = NormalizeServiceKey(key)
	default:
		return nil, nil, fmt.Errorf("configurators %s: unknown scope %q", nodeKey, d.Scope)
	}
	for i, c := range d.Configs {
		if c.Enabled != nil && !*c.Enabled {
			continue
		}
		var unsupported []string
		for k := range c.Parameters {
			if !supportedParameters[k] {
				unsupported = append(unsupported, k)
			}
		}
		if len(unsupported) > 0 {
			skipped = append(skipped, fmt.Sprintf("configs[%d]: parameters %v are not applied by the proxy", i, unsupported))
			continue
		}
		if len(c.Applications) > 0 || len(c.Services) > 0 {
			skipped = append(skipped, fmt.Sprintf("configs[%d]: applications/services selectors are not applied by the proxy", i))
			continue
		}
		addrs := c.Addresses
		if c.Side == "consumer" {
			if len(c.ProviderAddresses) == 0 {
				skipped = append(skipped, fmt.Sprintf("configs[%d]: a consumer-side item without providerAddresses configures consumers, not the proxy", i))
				continue
			}
			addrs = c.ProviderAddresses
		}
		o := Override{Rule: nodeKey, App: app, Service: service, Addresses: addrs}
		if w, ok := c.Parameters["weight"]; ok {
			n, err := strconv.ParseUint(w, 10, 31)
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("configs[%d]: bad weight %q", i, w))
				continue
			}
			v := uint32(n)
			o.Weight = &v
		}
		if v, ok := c.Parameters["disabled"]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				skipped = append(skipped, fmt.Sprintf("configs[%d]: bad disabled %q", i, v))
				continue
			}
			o.Disabled = &b
		}
		overrides = append(overrides, o)
	}
	return overrides, skipped, nil
}

// NormalizeServiceKey turns the rule keys Dubbo uses for a service
// ("iface:version:group", as in node names, or "group/iface:version") into
// ServiceKey's form.
func NormalizeServiceKey(k string) string {
	if strings.Contains(k, "/") {
		return k
	}
	parts := strings.Split(k, ":")
	var version, group string
	if len(parts) > 1 {
		version = parts[1]
	}
	if len(parts) > 2 {
		group = parts[2]
	}
	return ServiceKey(parts[0], group, version)
}

func (o Override) selects(p Provider) bool {
	if o.App != "" && p.App != o.App {
		return false
	}
	if o.Service != "" && p.Key() != o.Service {
		return false
	}
	if len(o.Addresses) == 0 {
		return true
	}
	for _, a := range o.Addresses {
		if a == "0.0.0.0" || a == p.Address() || a == p.Host {
			return true
		}
	}
	return false
}

// TagRule is a tag-router rule: providers of the application at the
// listed addresses carry the tag (it takes the place of their dubbo.tag).
type TagRule struct {
	App  string
	Tags map[string][]string // tag -> addresses
}

type tagRouterDoc struct {
	Key     string `yaml:"key"`
	Enabled *bool  `yaml:"enabled"`
	Force   bool   `yaml:"force"`
	Tags    []struct {
		Name      string   `yaml:"name"`
		Addresses []string `yaml:"addresses"`
	} `yaml:"tags"`
}

// ParseTagRouter reads a tag-router rule.
func ParseTagRouter(nodeKey string, doc []byte) (*TagRule, error) {
	var d tagRouterDoc
	if err := yaml.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("tag-router %s: %w", nodeKey, err)
	}
	if d.Enabled != nil && !*d.Enabled {
		return nil, nil
	}
	r := &TagRule{App: d.Key, Tags: map[string][]string{}}
	if r.App == "" {
		r.App = nodeKey
	}
	for _, t := range d.Tags {
		if t.Name == "" {
			return nil, fmt.Errorf("tag-router %s: a tag without a name", nodeKey)
		}
		r.Tags[t.Name] = append(r.Tags[t.Name], t.Addresses...)
	}
	return r, nil
}

func (r *TagRule) tagOf(p Provider) (string, bool) {
	if p.App != r.App {
		return "", false
	}
	for tag, addrs := range r.Tags {
		for _, a := range addrs {
			if a == p.Address() || a == p.Host {
				return tag, true
			}
		}
	}
	// As Dubbo's TagRouter: a provider the rule does not list keeps its
	// static dubbo.tag.
	return "", false
}
