package faultinject

import (
	"fmt"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"math"
	"time"

	"github.com/meshproto/meshproto/protocols/rpcmeta"
	"github.com/meshproto/meshproto/streamfilters/internal/rpcmatch"
)

// Config of the meshproto_fault filter:
//
//	{
//	  "rules": [
//	    {
//	      "match": {"service": {"exact": "org.example.Greeter"}, "method": {"exact": "greet"}},
//	      "delay": {"fixed": "200ms", "percent": 50},
//	      "abort": {"percent": 10, "error": {"http_status": 503, "message": "chaos", "native": {"dubbo": 80, "thrift": 6}}}
//	    }
//	  ],
//	  "max_active_delays": 10000
//	}
//
// The first rule whose match holds applies (an empty match selects every
// request); later rules are not looked at. A rule has a delay, an abort or
// both, rolled independently: a request may be delayed, aborted, or
// delayed and then aborted.
type Config struct {
	// Rules, tried in order; at least one.
	Rules []RuleConfig `json:"rules"`
	// MaxActiveDelays bounds the requests being delayed at once (each
	// holds the goroutine running its filters); beyond it a rolled delay
	// is skipped and counted in Stats.DelaysSkipped. Default
	// DefaultMaxActiveDelays.
	MaxActiveDelays int `json:"max_active_delays,omitempty"`
}

// RuleConfig is one fault rule.
type RuleConfig struct {
	// Match selects the requests (see rpcmatch.Config).
	Match rpcmatch.Config `json:"match"`
	Delay *DelayConfig    `json:"delay,omitempty"`
	Abort *AbortConfig    `json:"abort,omitempty"`
}

// DelayConfig holds a matching request for a fixed time before it goes on.
type DelayConfig struct {
	// Fixed is a Go duration ("200ms", "1.5s"), > 0; required.
	Fixed string `json:"fixed"`
	// Percent of the matching requests delayed, 0..100 (fractions
	// allowed); default 100.
	Percent *float64 `json:"percent,omitempty"`
}

// AbortConfig answers a matching request with an error instead of
// forwarding it.
type AbortConfig struct {
	// Percent of the matching requests aborted, 0..100 (fractions
	// allowed); default 100.
	Percent *float64 `json:"percent,omitempty"`
	// Error is the answer: http_status defaults to DefaultAbortStatus,
	// message to one naming the rule, native to what the codec maps the
	// http_status to.
	Error rpcmeta.ErrorConfig `json:"error"`
}

// Defaults.
const (
	DefaultAbortStatus     = 503
	DefaultMaxActiveDelays = 10000
	defaultPercent         = 100.0
)

// rule is a RuleConfig checked and compiled.
type rule struct {
	index    int
	match    *rpcmatch.Matcher
	delay    time.Duration // 0: no delay
	delayPct float64
	abort    bool
	abortPct float64
	abortErr rpcmeta.ErrorConfig // http_status and message filled in
}

// parsedConfig is a Config checked and compiled.
type parsedConfig struct {
	rules     []rule
	maxActive int64
}

// parseConfig reads the filter's JSON config map as MOSN hands it over.
func parseConfig(conf map[string]interface{}) (parsedConfig, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return parsedConfig{}, err
	}
	setDefaults(&c)
	p, err := compile(c)
	if err != nil {
		return parsedConfig{}, fmt.Errorf("%s: config: %w", FilterName, err)
	}
	return p, nil
}

// setDefaults fills in every default in one place.
func setDefaults(c *Config) {
	if c.MaxActiveDelays == 0 {
		c.MaxActiveDelays = DefaultMaxActiveDelays
	}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Delay != nil && r.Delay.Percent == nil {
			r.Delay.Percent = ptr(defaultPercent)
		}
		if r.Abort != nil {
			if r.Abort.Percent == nil {
				r.Abort.Percent = ptr(defaultPercent)
			}
			if r.Abort.Error.HTTPStatus == 0 {
				r.Abort.Error.HTTPStatus = DefaultAbortStatus
			}
			if r.Abort.Error.Message == "" {
				r.Abort.Error.Message = fmt.Sprintf("meshproto: fault injected (rules[%d])", i)
			}
		}
	}
}

func ptr(f float64) *float64 { return &f }

func compile(c Config) (parsedConfig, error) {
	if len(c.Rules) == 0 {
		return parsedConfig{}, fmt.Errorf("rules: missing; want at least one rule")
	}
	if c.MaxActiveDelays < 0 {
		return parsedConfig{}, fmt.Errorf("max_active_delays %d: want a positive number (omit for %d)", c.MaxActiveDelays, DefaultMaxActiveDelays)
	}
	p := parsedConfig{rules: make([]rule, 0, len(c.Rules)), maxActive: int64(c.MaxActiveDelays)}
	for i, rc := range c.Rules {
		field := fmt.Sprintf("rules[%d]", i)
		m, err := rpcmatch.Compile(field+".match", rc.Match)
		if err != nil {
			return parsedConfig{}, err
		}
		r := rule{index: i, match: m}
		if rc.Delay == nil && rc.Abort == nil {
			return parsedConfig{}, fmt.Errorf("%s: want a delay, an abort or both", field)
		}
		if d := rc.Delay; d != nil {
			if d.Fixed == "" {
				return parsedConfig{}, fmt.Errorf("%s.delay.fixed: missing; want a duration like \"200ms\"", field)
			}
			if r.delay, err = time.ParseDuration(d.Fixed); err != nil || r.delay <= 0 {
				return parsedConfig{}, fmt.Errorf("%s.delay.fixed %q: want a positive duration like \"200ms\"", field, d.Fixed)
			}
			if r.delayPct, err = checkPercent(field+".delay.percent", *d.Percent); err != nil {
				return parsedConfig{}, err
			}
		}
		if a := rc.Abort; a != nil {
			r.abort = true
			if r.abortPct, err = checkPercent(field+".abort.percent", *a.Percent); err != nil {
				return parsedConfig{}, err
			}
			if err := a.Error.Validate(field + ".abort.error"); err != nil {
				return parsedConfig{}, err
			}
			r.abortErr = a.Error
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func checkPercent(field string, v float64) (float64, error) {
	if math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("%s %v: want 0..100", field, v)
	}
	return v, nil
}
