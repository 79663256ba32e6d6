package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"mosn.io/mosn/pkg/log"
	mosnmetrics "mosn.io/mosn/pkg/metrics"
	"mosn.io/mosn/pkg/types"
)

// MetricsType is the MOSN metrics type of every series this filter writes.
// MOSN's Prometheus sink names a metric "<type>_<key>", so every exported
// name starts with "meshproto_rpc_".
const MetricsType = "meshproto_rpc"

// Metric keys; on /metrics they appear as MetricsType + "_" + key.
const (
	keyRequests      = "requests_total"    // counter: every request seen
	keyResponses     = "responses_total"   // counter: + outcome, status labels
	keyOneway        = "oneway_total"      // counter: oneway requests finished
	keyUnanswered    = "unanswered_total"  // counter: two-way requests that ended with no response
	keyInFlight      = "in_flight"         // gauge
	keyLatencyBucket = "latency_us_bucket" // counter: + le label (µs, cumulative)
	keyLatencyCount  = "latency_us_count"  // counter
	keyLatencySum    = "latency_us_sum"    // counter: µs
)

// Label names.
const (
	labelProtocol = "protocol"
	labelService  = "service"
	labelMethod   = "method"
	labelOutcome  = "outcome"
	labelStatus   = "status"
	labelLE       = "le"
)

// OtherLabel is the service and method of requests beyond max_series, and
// the status of statuses beyond maxStatuses per series.
const OtherLabel = "other"

// unknownLabel stands for an empty service or method.
const unknownLabel = "unknown"

// maxLabelLen caps a label value, in bytes.
const maxLabelLen = 200

// maxStatuses caps the distinct (outcome, status) pairs of one series.
const maxStatuses = 16

// statusOther marks the (outcome, "other") counter of a series.
const statusOther = uint64(1) << 32

// counter and gauge are the parts of go-metrics' Counter and Gauge used here.
type counter interface{ Inc(int64) }
type gauge interface{ Update(int64) }

type nopCounter struct{}

func (nopCounter) Inc(int64) {}

type nopGauge struct{}

func (nopGauge) Update(int64) {}

// outcome of one request that got a response.
type outcome uint8

const (
	// outcomeSuccess: the upstream answered and Response.Succeeded().
	outcomeSuccess outcome = iota
	// outcomeFailure: the upstream answered with an RPC-level failure;
	// status is the protocol's native status.
	outcomeFailure
	// outcomeLocal: the proxy answered itself (no route, timeout, no
	// healthy upstream, a filter's local reply); status is MOSN's code.
	outcomeLocal
)

func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeFailure:
		return "failure"
	default:
		return "local"
	}
}

// seriesKey identifies one series. Keys in caches hold label values
// already sanitized (or raw values that sanitize to themselves).
type seriesKey struct {
	protocol, service, method string
}

func (k seriesKey) clone() seriesKey {
	return seriesKey{strings.Clone(k.protocol), strings.Clone(k.service), strings.Clone(k.method)}
}

// sanitize returns the label values MOSN's sink can print as they are: it
// does not escape label values, so a quote, backslash or newline would
// break the whole exposition. Dots are replaced in protocol and method (they
// never hold one legitimately) so that MOSN's registry key, which joins
// labels with dots, cannot make two label sets collide.
func (k seriesKey) sanitize() seriesKey {
	return seriesKey{labelValue(k.protocol, false), labelValue(k.service, true), labelValue(k.method, false)}
}

// labelValue returns s when it is a safe label value (no allocation), or a
// copy with unsafe characters replaced by '_' and cut to maxLabelLen.
func labelValue(s string, dots bool) string {
	if s == "" {
		return unknownLabel
	}
	if len(s) <= maxLabelLen {
		clean := true
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || (c == '.' && !dots) {
				clean = false
				break
			}
		}
		if clean {
			return s
		}
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1, r == '"', r == '\\', r == '.' && !dots, !unicode.IsPrint(r):
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > maxLabelLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// series is the shared state of one protocol+service+method: one per label
// set in the process, so that the in-flight count has one owner.
type series struct {
	key seriesKey

	requests, oneway, unanswered counter
	latCount, latSum             counter

	inflight  gauge
	inflightN atomic.Int64

	mu       sync.Mutex                       // serializes adding outcomes
	outcomes atomic.Pointer[[]outcomeCounter] // copy on write
}

type outcomeCounter struct {
	outcome outcome
	status  uint64
	c       counter
}

func (s *series) labels() map[string]string {
	return map[string]string{labelProtocol: s.key.protocol, labelService: s.key.service, labelMethod: s.key.method}
}

func newSeries(k seriesKey) (*series, error) {
	s := &series{key: k}
	m, err := newMetrics(s.labels())
	if err != nil {
		return nil, err
	}
	s.requests = m.Counter(keyRequests)
	s.oneway = m.Counter(keyOneway)
	s.unanswered = m.Counter(keyUnanswered)
	s.latCount = m.Counter(keyLatencyCount)
	s.latSum = m.Counter(keyLatencySum)
	s.inflight = m.Gauge(keyInFlight)
	s.inflight.Update(0)
	return s, nil
}

// newMetrics returns MOSN's metrics for labels, and an error when MOSN's
// registry returned another label set under the same key.
func newMetrics(labels map[string]string) (types.Metrics, error) {
	m, err := mosnmetrics.NewMetrics(MetricsType, labels)
	if err != nil {
		return nil, err
	}
	got := m.Labels()
	if len(got) != len(labels) {
		return nil, fmt.Errorf("metrics registry returned labels %v for %v", got, labels)
	}
	for k, v := range labels {
		if got[k] != v {
			return nil, fmt.Errorf("metrics registry returned labels %v for %v", got, labels)
		}
	}
	return m, nil
}

// counterOf returns one counter, or a no-op one (logged) if the registry
// cannot give it.
func counterOf(labels map[string]string, key string) counter {
	m, err := newMetrics(labels)
	if err != nil {
		log.DefaultLogger.Errorf("[%s] %s: %v", FilterName, key, err)
		return nopCounter{}
	}
	return m.Counter(key)
}

// addInflight changes the in-flight count. go-metrics gauges only Update,
// so the count lives in inflightN; whoever writes the gauge checks that the
// count did not move meanwhile, so that the last write is never stale.
func (s *series) addInflight(d int64) {
	v := s.inflightN.Add(d)
	for {
		s.inflight.Update(v)
		cur := s.inflightN.Load()
		if cur == v {
			return
		}
		v = cur
	}
}

// responses returns the counter of one outcome and status.
func (s *series) responses(o outcome, status uint64) counter {
	if p := s.outcomes.Load(); p != nil {
		cur := *p
		for i := range cur {
			if cur[i].outcome == o && cur[i].status == status {
				return cur[i].c
			}
		}
		if len(cur) >= maxStatuses {
			for i := range cur {
				if cur[i].outcome == o && cur[i].status == statusOther {
					return cur[i].c
				}
			}
		}
	}
	return s.addOutcome(o, status)
}

func (s *series) addOutcome(o outcome, status uint64) counter {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cur []outcomeCounter
	if p := s.outcomes.Load(); p != nil {
		cur = *p
	}
	if len(cur) >= maxStatuses {
		status = statusOther
	}
	for i := range cur {
		if cur[i].outcome == o && cur[i].status == status {
			return cur[i].c
		}
	}
	labels := s.labels()
	labels[labelOutcome] = o.String()
	if status == statusOther {
		labels[labelStatus] = OtherLabel
	} else {
		labels[labelStatus] = strconv.FormatUint(status, 10)
	}
	c := counterOf(labels, keyResponses)
	next := make([]outcomeCounter, len(cur), len(cur)+1)
	copy(next, cur)
	next = append(next, outcomeCounter{outcome: o, status: status, c: c})
	s.outcomes.Store(&next)
	return c
}

// seriesRegistry holds every series of the process and enforces
// max_series: MOSN's registry never drops a series, so neither does this.
type seriesRegistry struct {
	mu       sync.Mutex
	series   sync.Map     // sanitized seriesKey -> *series
	admitted atomic.Int64 // series counted against max_series
}

var registry = &seriesRegistry{}

// get returns the series of k (sanitized), creating it while fewer than
// max series exist; nil when the cap is reached.
func (r *seriesRegistry) get(k seriesKey, max int) *series {
	if v, ok := r.series.Load(k); ok {
		return v.(*series)
	}
	if r.admitted.Load() >= int64(max) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.series.Load(k); ok {
		return v.(*series)
	}
	if r.admitted.Load() >= int64(max) {
		return nil
	}
	s, err := newSeries(k.clone())
	if err != nil {
		log.DefaultLogger.Errorf("[%s] %v; counting it as %q", FilterName, err, OtherLabel)
		return nil
	}
	r.series.Store(s.key, s)
	r.admitted.Add(1)
	return s
}

// other returns the overflow series of a protocol; it does not count
// against max_series.
func (r *seriesRegistry) other(protocol string) *series {
	k := seriesKey{protocol: protocol, service: OtherLabel, method: OtherLabel}
	if v, ok := r.series.Load(k); ok {
		return v.(*series)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if v, ok := r.series.Load(k); ok {
		return v.(*series)
	}
	s, err := newSeries(k.clone())
	if err != nil {
		// Protocol names hold no dots, so this cannot collide; still, a
		// request must never fail for want of a metric.
		log.DefaultLogger.Errorf("[%s] %v; not counting %s traffic beyond max_series", FilterName, err, protocol)
		s = &series{key: k.clone(), requests: nopCounter{}, oneway: nopCounter{}, unanswered: nopCounter{},
			latCount: nopCounter{}, latSum: nopCounter{}, inflight: nopGauge{}}
	}
	r.series.Store(s.key, s)
	return s
}

// handle is what a request holds: the shared series and the latency
// buckets of its filter's configuration.
type handle struct {
	s       *series
	bounds  []int64   // bucket upper bounds, µs
	buckets []counter // len(bounds)+1, the last is +Inf
}

// observe records one response's latency in microseconds.
func (h *handle) observe(us int64) {
	if us < 0 {
		us = 0
	}
	h.s.latCount.Inc(1)
	h.s.latSum.Inc(us)
	i := 0
	for i < len(h.bounds) && us > h.bounds[i] {
		i++
	}
	for ; i < len(h.buckets); i++ {
		h.buckets[i].Inc(1)
	}
}
