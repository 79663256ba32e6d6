package xdsroutes

import (
	"fmt"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	v2 "mosn.io/mosn/pkg/config/v2"
)

// An Envoy HeaderMatcher becomes one of two things:
//
//   - a MOSN header matcher, when MOSN's semantics (the header must be
//     present and its value equal a string or match a regular expression)
//     say the same: exact, prefix, suffix, contains and regex string
//     matches, with or without ignore_case, and present_match: true. Only
//     exact stays a string compare; the others become anchored Go regular
//     expressions (Envoy's safe_regex matches the whole value, MOSN's regex
//     any part of it, so the regex is anchored too);
//   - a Predicate, checked by meshproto's route handler after MOSN matched
//     the rest of the route, when MOSN cannot say it: invert_match, and
//     present_match: false (the header must be absent). Envoy treats a
//     missing header as not matching before inverting, so an inverted
//     matcher matches a request without the header.

// Predicate is one header condition MOSN's matchers cannot express.
type Predicate struct {
	Header string `json:"header"`
	// Rule says what is checked, for config dumps and logs.
	Rule   string `json:"rule"`
	match  func(value string, present bool) bool
	invert bool
}

// Matches reports whether the request's header value (present or not)
// satisfies the predicate.
func (p *Predicate) Matches(value string, present bool) bool {
	return p.match(value, present) != p.invert
}

// headerMatch is what one Envoy HeaderMatcher became.
type headerMatch struct {
	mosn      *v2.HeaderMatcher // nil when pred is set
	pred      *Predicate
	unsupport string // the Envoy field that could not be converted
}

func convertHeader(h *routev3.HeaderMatcher) headerMatch {
	name := h.GetName()
	// MOSN drops the colon of pseudo-headers (":authority"), as its own
	// converter does.
	name = strings.TrimPrefix(name, ":")
	str, desc, unsupported := stringMatcher(h)
	if unsupported != "" {
		return headerMatch{unsupport: unsupported}
	}
	if h.GetInvertMatch() || str == nil {
		p := &Predicate{Header: name, invert: h.GetInvertMatch()}
		switch {
		case str != nil:
			p.match = func(v string, present bool) bool { return present && str.matches(v) }
			p.Rule = desc
		case h.GetPresentMatch():
			p.match = func(_ string, present bool) bool { return present }
			p.Rule = "present"
		default: // present_match: false
			p.match = func(_ string, present bool) bool { return !present }
			p.Rule = "absent"
		}
		if p.invert {
			p.Rule = "not " + p.Rule
		}
		if !p.invert && p.Rule == "present" {
			return headerMatch{mosn: &v2.HeaderMatcher{Name: name, Value: "", Regex: true}}
		}
		return headerMatch{pred: p}
	}
	return headerMatch{mosn: str.mosn(name)}
}

// compiled is a string match in both shapes: for MOSN's matcher and for a
// Predicate.
type compiled struct {
	exact string
	re    *regexp.Regexp // nil for a case-sensitive exact match
}

func (c *compiled) matches(v string) bool {
	if c.re == nil {
		return v == c.exact
	}
	return c.re.MatchString(v)
}

func (c *compiled) mosn(name string) *v2.HeaderMatcher {
	if c.re == nil {
		return &v2.HeaderMatcher{Name: name, Value: c.exact}
	}
	return &v2.HeaderMatcher{Name: name, Value: c.re.String(), Regex: true}
}

// stringMatcher reads the string condition of h: string_match (what
// current istiod writes) or the older exact/prefix/suffix/contains/
// safe_regex fields. It returns nil for present_match.
func stringMatcher(h *routev3.HeaderMatcher) (*compiled, string, string) {
	switch spec := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		return fromStringMatcher(spec.StringMatch)
	case *routev3.HeaderMatcher_ExactMatch:
		return build("exact", spec.ExactMatch, false)
	case *routev3.HeaderMatcher_PrefixMatch:
		return build("prefix", spec.PrefixMatch, false)
	case *routev3.HeaderMatcher_SuffixMatch:
		return build("suffix", spec.SuffixMatch, false)
	case *routev3.HeaderMatcher_ContainsMatch:
		return build("contains", spec.ContainsMatch, false)
	case *routev3.HeaderMatcher_SafeRegexMatch:
		return build("regex", spec.SafeRegexMatch.GetRegex(), false)
	case *routev3.HeaderMatcher_PresentMatch:
		return nil, "", ""
	case *routev3.HeaderMatcher_RangeMatch:
		return nil, "", "HeaderMatcher.range_match"
	case nil:
		// No specifier: Envoy matches presence.
		return nil, "", ""
	default:
		return nil, "", fmt.Sprintf("HeaderMatcher.%T", spec)
	}
}

func fromStringMatcher(m *matcherv3.StringMatcher) (*compiled, string, string) {
	ic := m.GetIgnoreCase()
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return build("exact", p.Exact, ic)
	case *matcherv3.StringMatcher_Prefix:
		return build("prefix", p.Prefix, ic)
	case *matcherv3.StringMatcher_Suffix:
		return build("suffix", p.Suffix, ic)
	case *matcherv3.StringMatcher_Contains:
		return build("contains", p.Contains, ic)
	case *matcherv3.StringMatcher_SafeRegex:
		return build("regex", p.SafeRegex.GetRegex(), ic)
	default:
		return nil, "", fmt.Sprintf("StringMatcher.%T", p)
	}
}

// build compiles one string condition. An invalid regex is reported as
// unsupported: the route is dropped rather than matching everything.
func build(kind, s string, ignoreCase bool) (*compiled, string, string) {
	if kind == "regex" {
		ignoreCase = false // Envoy: ignore_case has no effect on safe_regex
	}
	desc := kind + " " + fmt.Sprintf("%q", s)
	if ignoreCase {
		desc += " (ignore case)"
	}
	if kind == "exact" && !ignoreCase {
		return &compiled{exact: s}, desc, ""
	}
	var expr string
	switch kind {
	case "exact":
		expr = "^" + regexp.QuoteMeta(s) + "$"
	case "prefix":
		expr = "^" + regexp.QuoteMeta(s)
	case "suffix":
		expr = regexp.QuoteMeta(s) + "$"
	case "contains":
		expr = regexp.QuoteMeta(s)
	case "regex":
		expr = "^(?:" + s + ")$"
	}
	flags := "(?s)"
	if ignoreCase {
		flags = "(?is)"
	}
	re, err := regexp.Compile(flags + expr)
	if err != nil {
		return nil, "", fmt.Sprintf("invalid regex %q", s)
	}
	return &compiled{re: re}, desc, ""
}
