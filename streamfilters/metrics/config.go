package metrics

import (
	"fmt"
	"github.com/meshproto/meshproto/streamfilters/internal/filterconf"
	"math"
)

// Config of the meshproto_metrics filter:
//
//	{"type": "meshproto_metrics", "config": {}}
//	{"type": "meshproto_metrics", "config": {"max_series": 1000, "latency_buckets_ms": [1, 5, 25, 100, 500]}}
//
// max_series caps how many distinct protocol+service+method series the
// filter puts into MOSN's metrics registry, process-wide (the registry never
// forgets a series). Requests for pairs beyond the cap are counted under
// service="other", method="other". Omitted: DefaultMaxSeries. 0 aggregates
// everything per protocol.
//
// latency_buckets_us (integers, microseconds) or latency_buckets_ms
// (numbers, milliseconds, fractions allowed down to 0.001) are the upper
// bounds of the latency histogram buckets, strictly increasing; +Inf is
// always added. The exported "le" label is in microseconds either way.
// Omitted: DefaultLatencyBucketsUS. Use the same buckets on every listener:
// listeners with different buckets write into the same series.
type Config struct {
	MaxSeries        *int      `json:"max_series,omitempty"`
	LatencyBucketsUS []int64   `json:"latency_buckets_us,omitempty"`
	LatencyBucketsMS []float64 `json:"latency_buckets_ms,omitempty"`
}

// DefaultMaxSeries is max_series when the config omits it.
const DefaultMaxSeries = 1000

// Config limits.
const (
	maxMaxSeries = 100000
	maxBuckets   = 30
	maxBucketUS  = int64(24 * 3600 * 1e6) // a day
)

// DefaultLatencyBucketsUS returns the default bucket bounds, in
// microseconds: 250µs to 5s.
func DefaultLatencyBucketsUS() []int64 {
	return []int64{250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000}
}

// parsedConfig is Config checked, with defaults applied.
type parsedConfig struct {
	maxSeries int
	bucketsUS []int64
}

// parseConfig reads the filter's JSON config map as MOSN hands it over.
func parseConfig(conf map[string]interface{}) (parsedConfig, error) {
	var c Config
	if err := filterconf.Decode(FilterName, conf, &c); err != nil {
		return parsedConfig{}, err
	}
	out := parsedConfig{maxSeries: DefaultMaxSeries}
	if c.MaxSeries != nil {
		if *c.MaxSeries < 0 || *c.MaxSeries > maxMaxSeries {
			return parsedConfig{}, fmt.Errorf("%s: config: max_series %d: want 0..%d", FilterName, *c.MaxSeries, maxMaxSeries)
		}
		out.maxSeries = *c.MaxSeries
	}
	switch {
	case c.LatencyBucketsUS != nil && c.LatencyBucketsMS != nil:
		return parsedConfig{}, fmt.Errorf("%s: config: set latency_buckets_us or latency_buckets_ms, not both", FilterName)
	case c.LatencyBucketsUS != nil:
		out.bucketsUS = c.LatencyBucketsUS
		if err := checkBuckets("latency_buckets_us", out.bucketsUS); err != nil {
			return parsedConfig{}, err
		}
	case c.LatencyBucketsMS != nil:
		us := make([]int64, len(c.LatencyBucketsMS))
		for i, ms := range c.LatencyBucketsMS {
			v := math.Round(ms * 1000)
			if math.IsNaN(ms) || math.Abs(ms*1000-v) > 1e-6 {
				return parsedConfig{}, fmt.Errorf("%s: config: latency_buckets_ms[%d] %v: want a whole number of microseconds (at most 3 decimals)", FilterName, i, ms)
			}
			if v < 1 || v > float64(maxBucketUS) {
				return parsedConfig{}, fmt.Errorf("%s: config: latency_buckets_ms[%d] %v: want 0.001..%d", FilterName, i, ms, maxBucketUS/1000)
			}
			us[i] = int64(v)
		}
		if err := checkBuckets("latency_buckets_ms", us); err != nil {
			return parsedConfig{}, err
		}
		out.bucketsUS = us
	default:
		out.bucketsUS = DefaultLatencyBucketsUS()
	}
	return out, nil
}

// checkBuckets wants 1..maxBuckets strictly increasing positive bounds.
func checkBuckets(field string, b []int64) error {
	if len(b) == 0 || len(b) > maxBuckets {
		return fmt.Errorf("%s: config: %s: want 1..%d bucket bounds, got %d", FilterName, field, maxBuckets, len(b))
	}
	for i, v := range b {
		if v < 1 || v > maxBucketUS {
			return fmt.Errorf("%s: config: %s[%d] %d µs: want 1..%d µs", FilterName, field, i, v, maxBucketUS)
		}
		if i > 0 && v <= b[i-1] {
			return fmt.Errorf("%s: config: %s[%d]: bounds must increase strictly (%d after %d µs)", FilterName, field, i, v, b[i-1])
		}
	}
	return nil
}
