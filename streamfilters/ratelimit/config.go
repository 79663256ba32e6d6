package ratelimit

import (
	"fmt"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"math"
	"strings"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
)

// Config of the meshproto_ratelimit filter:
//
//	{
//	  "rules": [
//	    {"match": {"service": {"exact": "org.example.Greeter"}, "method": {"exact": "greet"}}, "qps": 100, "burst": 20},
//	    {"match": {"protocols": ["dubbo"]}, "key": "header:tenant", "qps": 50, "max_keys": 1000,
//	     "error": {"message": "tenant over quota", "native": {"dubbo": 100}}}
//	  ]
//	}
//
// The first rule whose match holds decides (an empty match selects every
// request); a request no rule matches is not limited. Each rule keeps a
// token bucket per key value: it holds up to burst tokens, refills at qps
// tokens a second, continuously, and a request takes one token or is
// rejected. A rejected request is answered by the proxy with error.
type Config struct {
	// Rules, tried in order; at least one.
	Rules []RuleConfig `json:"rules"`
}

// RuleConfig is one limit.
type RuleConfig struct {
	// Match selects the requests (see rpcmatch.Config).
	Match rpcmatch.Config `json:"match"`
	// Key splits the rule's requests into buckets: KeyNone (one bucket
	// for the rule, the default), KeyService, KeyServiceMethod, or
	// KeyHeaderPrefix+NAME (one bucket per value of header or attachment
	// NAME; requests without it share the bucket of the empty value).
	Key string `json:"key,omitempty"`
	// QPS is the refill rate in tokens a second, MinQPS..MaxQPS
	// (fractions allowed: 0.5 is one request every two seconds).
	QPS float64 `json:"qps"`
	// Burst is the bucket's capacity, 1..MaxBurst; 0 or omitted means
	// max(1, floor(qps)). A bucket starts full.
	Burst int `json:"burst,omitempty"`
	// MaxKeys bounds the buckets of a keyed rule, 1..MaxMaxKeys, default
	// DefaultMaxKeys. Keys beyond it share one overflow bucket (same qps
	// and burst) until idle buckets are reclaimed. Only with a key.
	MaxKeys int `json:"max_keys,omitempty"`
	// Error is the answer to a rejected request: http_status defaults to
	// DefaultStatus, message to one naming the rule and key, native to
	// what the codec maps the http_status to.
	Error rpcmeta.ErrorConfig `json:"error"`
}

// Key kinds.
const (
	KeyNone          = ""
	KeyService       = "service"
	KeyServiceMethod = "service_method"
	KeyHeaderPrefix  = "header:"
)

// Defaults and limits.
const (
	DefaultStatus  = 429
	DefaultMaxKeys = 10000

	MinQPS     = 0.001
	MaxQPS     = 1e9
	MaxBurst   = 1000000000
	MaxMaxKeys = 10000000
)

type keyKind uint8

const (
	keyNone keyKind = iota
	keyService
	keyServiceMethod
	keyHeader
)

// parseConfig reads the filter's JSON config map as MOSN hands it over.
func parseConfig(conf map[string]interface{}) ([]*rule, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return nil, err
	}
	setDefaults(&c)
	rules, err := compile(c)
	if err != nil {
		return nil, fmt.Errorf("%s: config: %w", FilterName, err)
	}
	return rules, nil
}

// setDefaults fills in every default in one place. Values it cannot
// default (a bad qps) are left for compile to reject.
func setDefaults(c *Config) {
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Burst == 0 && r.QPS >= MinQPS && r.QPS <= MaxQPS {
			r.Burst = max(1, int(r.QPS))
		}
		if r.MaxKeys == 0 && r.Key != KeyNone {
			r.MaxKeys = DefaultMaxKeys
		}
		if r.Error.HTTPStatus == 0 {
			r.Error.HTTPStatus = DefaultStatus
		}
	}
}

func compile(c Config) ([]*rule, error) {
	if len(c.Rules) == 0 {
		return nil, fmt.Errorf("rules: missing; want at least one rule")
	}
	rules := make([]*rule, 0, len(c.Rules))
	for i, rc := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		m, err := rpcmatch.Compile(field+".match", rc.Match)
		if err != nil {
			return nil, err
		}
		r := &rule{index: i, match: m, errCfg: rc.Error, customMsg: rc.Error.Message != ""}
		switch {
		case rc.Key == KeyNone:
			r.kind = keyNone
		case rc.Key == KeyService:
			r.kind = keyService
		case rc.Key == KeyServiceMethod:
			r.kind = keyServiceMethod
		case strings.HasPrefix(rc.Key, KeyHeaderPrefix) && len(rc.Key) > len(KeyHeaderPrefix):
			r.kind, r.header = keyHeader, rc.Key[len(KeyHeaderPrefix):]
		default:
			return nil, fmt.Errorf("%s.key %q: want \"\", %q, %q or \"%sNAME\"", field, rc.Key, KeyService, KeyServiceMethod, KeyHeaderPrefix)
		}
		if math.IsNaN(rc.QPS) || rc.QPS < MinQPS || rc.QPS > MaxQPS {
			return nil, fmt.Errorf("%s.qps %v: want %v..%v tokens a second", field, rc.QPS, MinQPS, MaxQPS)
		}
		if rc.Burst < 1 || rc.Burst > MaxBurst {
			return nil, fmt.Errorf("%s.burst %d: want 1..%d (omit for max(1, qps))", field, rc.Burst, MaxBurst)
		}
		if r.kind == keyNone && rc.MaxKeys != 0 {
			return nil, fmt.Errorf("%s.max_keys %d: only for a rule with a key", field, rc.MaxKeys)
		}
		if r.kind != keyNone && (rc.MaxKeys < 1 || rc.MaxKeys > MaxMaxKeys) {
			return nil, fmt.Errorf("%s.max_keys %d: want 1..%d (omit for %d)", field, rc.MaxKeys, MaxMaxKeys, DefaultMaxKeys)
		}
		if err := rc.Error.Validate(field + ".error"); err != nil {
			return nil, err
		}
		r.interval = int64(math.Round(1e9 / rc.QPS))
		r.limit = int64(maxLimit)
		if l := float64(rc.Burst) * float64(r.interval); l < maxLimit {
			r.limit = int64(l)
		}
		if r.kind == keyNone {
			r.single = &bucket{msg: r.message("")}
		} else {
			r.keys = newTable(int64(rc.MaxKeys), r.message(fmt.Sprintf("overflow bucket shared by keys beyond max_keys %d", rc.MaxKeys)))
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// maxLimit caps a bucket's span in nanoseconds (about 146 years), so that
// bucket arithmetic never overflows an int64.
const maxLimit = float64(1 << 62)
