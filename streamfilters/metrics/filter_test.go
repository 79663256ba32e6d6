package metrics

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/protocol"
)

const (
	greeter = "org.example.Greeter"
	calc    = "Calculator"
)

func TestConfigDefaults(t *testing.T) {
	f := newFactory(t, map[string]interface{}{})
	assert.Equal(t, DefaultMaxSeries, f.maxSeries)
	assert.Equal(t, DefaultLatencyBucketsUS(), f.bounds)
	assert.Equal(t, "250", f.le[0])
	assert.Equal(t, "+Inf", f.le[len(f.le)-1])
	assert.Len(t, f.le, len(f.bounds)+1)

	// As MOSN hands it over: numbers are float64.
	f = newFactory(t, map[string]interface{}{"max_series": 0.0, "latency_buckets_ms": []interface{}{0.5, 1.0, 2.5, 1000.0}})
	assert.Equal(t, 0, f.maxSeries)
	assert.Equal(t, []int64{500, 1000, 2500, 1000000}, f.bounds)
	assert.Equal(t, []string{"500", "1000", "2500", "1000000", "+Inf"}, f.le)

	f = newFactory(t, map[string]interface{}{"max_series": 5.0, "latency_buckets_us": []interface{}{100.0, 200.0}})
	assert.Equal(t, 5, f.maxSeries)
	assert.Equal(t, []int64{100, 200}, f.bounds)
}

func TestBadConfigNamesTheProblem(t *testing.T) {
	cases := []struct {
		conf map[string]interface{}
		want string
	}{
		{map[string]interface{}{"max_sereis": 10.0}, `unknown field "max_sereis"`},
		{map[string]interface{}{"max_series": -1.0}, "max_series -1"},
		{map[string]interface{}{"max_series": 1e9}, "max_series 1000000000"},
		{map[string]interface{}{"max_series": "100"}, "max_series"},
		{map[string]interface{}{"max_series": 1.5}, "max_series"},
		{map[string]interface{}{"latency_buckets_us": []interface{}{}}, "latency_buckets_us: want 1..30"},
		{map[string]interface{}{"latency_buckets_us": []interface{}{10.0, 10.0}}, "latency_buckets_us[1]: bounds must increase"},
		{map[string]interface{}{"latency_buckets_us": []interface{}{0.0}}, "latency_buckets_us[0] 0"},
		{map[string]interface{}{"latency_buckets_us": []interface{}{1.5}}, "latency_buckets_us"},
		{map[string]interface{}{"latency_buckets_us": "1,2"}, "latency_buckets_us"},
		{map[string]interface{}{"latency_buckets_ms": []interface{}{0.0001}}, "latency_buckets_ms[0] 0.0001"},
		{map[string]interface{}{"latency_buckets_ms": []interface{}{5.0, 1.0}}, "latency_buckets_ms[1]: bounds must increase"},
		{map[string]interface{}{"latency_buckets_ms": []interface{}{-1.0}}, "latency_buckets_ms[0] -1"},
		{map[string]interface{}{"latency_buckets_ms": []interface{}{1.0}, "latency_buckets_us": []interface{}{1.0}}, "not both"},
		{map[string]interface{}{"latency_buckets_us": make([]interface{}, 31)}, "got 31"},
	}
	for _, tc := range cases {
		_, err := CreateFilterFactory(tc.conf)
		require.Error(t, err, "%v", tc.conf)
		assert.Contains(t, err.Error(), tc.want, "%v", tc.conf)
		assert.Contains(t, err.Error(), FilterName)
	}
}

func TestRegisteredWithMOSN(t *testing.T) {
	fac, err := api.CreateStreamFilterChainFactory(FilterName, map[string]interface{}{"max_series": 10.0})
	require.NoError(t, err)
	assert.Equal(t, 10, fac.(*factory).maxSeries)
}

func TestChainIsOnePooledFilterOnBothSides(t *testing.T) {
	reset(t)
	c := &fakeStream{}
	c.start(newFactory(t, nil))
	assert.Equal(t, []api.ReceiverFilterPhase{api.BeforeRoute}, c.rphases)
	assert.Equal(t, []api.SenderFilterPhase{api.BeforeSend}, c.sphases)
	s := c.receivers[0].(*stream)
	assert.Same(t, &s.sender, c.senders[0])
	c.destroy()
	// Both OnDestroy calls happened; only one returned the object.
	assert.Nil(t, s.factory)
}

func TestOutcomes(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	d := lbl("dubbo", greeter, "greet")

	call(fac, newReq("dubbo", greeter, "greet"), newResp("dubbo", 20, true))
	call(fac, newReq("dubbo", greeter, "greet"), newResp("dubbo", 20, true))
	call(fac, newReq("dubbo", greeter, "greet"), newResp("dubbo", 70, false))

	// A reply the proxy made itself: the sender filters see the request
	// frame, with MOSN's code in x-mosn-status (here: upstream timeout).
	c := &fakeStream{ctx: hijackCtx(t, api.TimeoutExceptionCode)}
	c.start(fac)
	req := newReq("dubbo", greeter, "greet")
	c.receive(req)
	c.send(req)
	c.destroy()

	// Thrift: a declared exception is a successful call, a
	// TApplicationException is not.
	call(fac, newReq("thrift", calc, "divide"), newResp("thrift", 1, true))
	call(fac, newReq("thrift", calc, "divide"), newResp("thrift", 2, false))

	assert.EqualValues(t, 4, get(t, d, keyRequests))
	assert.EqualValues(t, 2, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "success", labelStatus, "20"), keyResponses))
	assert.EqualValues(t, 1, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "failure", labelStatus, "70"), keyResponses))
	assert.EqualValues(t, 1, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "local", labelStatus, "504"), keyResponses))
	assert.EqualValues(t, 0, get(t, d, keyInFlight))
	assert.EqualValues(t, 0, get(t, d, keyOneway))
	assert.EqualValues(t, 0, get(t, d, keyUnanswered))
	assert.EqualValues(t, 4, get(t, d, keyLatencyCount))

	th := lbl("thrift", calc, "divide")
	assert.EqualValues(t, 2, get(t, th, keyRequests))
	assert.EqualValues(t, 1, get(t, lbl("thrift", calc, "divide", labelOutcome, "success", labelStatus, "1"), keyResponses))
	assert.EqualValues(t, 1, get(t, lbl("thrift", calc, "divide", labelOutcome, "failure", labelStatus, "2"), keyResponses))
	assert.EqualValues(t, 0, get(t, th, keyInFlight))
}

func TestLocalReplyCodeFromRequestInfo(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	// No x-mosn-status variable, a plain header map (MOSN's hijack with nil
	// headers): the code comes from the RequestInfo.
	c := &fakeStream{}
	c.start(fac)
	c.receive(newReq("dubbo", greeter, "greet"))
	c.info.code = api.RouterUnavailableCode
	c.send(protocol.CommonHeader{})
	c.destroy()
	assert.EqualValues(t, 1, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "local", labelStatus, "404"), keyResponses))
}

func TestInFlightWithoutResponse(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	d := lbl("dubbo", greeter, "notify")

	// In flight while waiting.
	c := &fakeStream{}
	c.start(fac)
	c.receive(newReq("dubbo", greeter, "notify"))
	assert.EqualValues(t, 1, get(t, d, keyInFlight))

	// A oneway request ends when its stream does.
	ow := newReq("dubbo", greeter, "notify")
	ow.oneway = true
	call(fac, ow, nil)
	assert.EqualValues(t, 1, get(t, d, keyOneway))
	assert.EqualValues(t, 1, get(t, d, keyInFlight))

	// The waiting stream is reset (client gone): no response ever.
	c.destroy()
	assert.EqualValues(t, 1, get(t, d, keyUnanswered))
	assert.EqualValues(t, 0, get(t, d, keyInFlight))
	assert.EqualValues(t, 2, get(t, d, keyRequests))
	// Neither has a latency.
	assert.EqualValues(t, 0, get(t, d, keyLatencyCount))
}

func TestResponseIsCountedOnce(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	c := &fakeStream{}
	c.start(fac)
	c.receive(newReq("dubbo", greeter, "greet"))
	c.receive(newReq("dubbo", greeter, "greet")) // a filter phase run again
	c.send(newResp("dubbo", 20, true))
	c.send(newResp("dubbo", 20, true))
	c.destroy()
	d := lbl("dubbo", greeter, "greet")
	assert.EqualValues(t, 1, get(t, d, keyRequests))
	assert.EqualValues(t, 1, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "success", labelStatus, "20"), keyResponses))
	assert.EqualValues(t, 0, get(t, d, keyUnanswered))
	assert.EqualValues(t, 0, get(t, d, keyInFlight))
}

func TestOtherTrafficIsNotCounted(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	call(fac, protocol.CommonHeader{"service": greeter}, protocol.CommonHeader{})
	hb := newReq("dubbo", "", "")
	hb.heartbeat = true
	call(fac, hb, newResp("dubbo", 20, true))
	// A response for a request the filter never saw (answered by an
	// earlier filter) is ignored.
	c := &fakeStream{}
	c.start(fac)
	c.send(newResp("dubbo", 20, true))
	c.destroy()
	assert.Equal(t, 0, seriesCount())
}

func TestLatencyHistogram(t *testing.T) {
	reset(t)
	fac := newFactory(t, map[string]interface{}{"latency_buckets_ms": []interface{}{1.0, 5.0, 10.0}})
	// A pinned clock: latencies are exact, whatever the machine is doing.
	now := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	fac.now = func() time.Time { return now }
	for _, d := range []time.Duration{500 * time.Microsecond, 3 * time.Millisecond, 4 * time.Millisecond, 50 * time.Millisecond} {
		c := &fakeStream{}
		c.start(fac)
		c.info.start = now.Add(-d) // MOSN's stream start time
		c.receive(newReq("dubbo", greeter, "greet"))
		c.send(newResp("dubbo", 20, true))
		c.destroy()
	}
	bucket := func(le string) int64 {
		return get(t, lbl("dubbo", greeter, "greet", labelLE, le), keyLatencyBucket)
	}
	assert.EqualValues(t, 1, bucket("1000"))
	assert.EqualValues(t, 3, bucket("5000"))
	assert.EqualValues(t, 3, bucket("10000"))
	assert.EqualValues(t, 4, bucket("+Inf"))
	d := lbl("dubbo", greeter, "greet")
	assert.EqualValues(t, 4, get(t, d, keyLatencyCount))
	assert.EqualValues(t, 57500, get(t, d, keyLatencySum))
}

func TestStartTimeWithoutRequestInfo(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	c := &fakeStream{}
	c.start(fac)
	c.info.start = time.Time{} // unknown: the filter takes its own
	c.receive(newReq("dubbo", greeter, "greet"))
	c.send(newResp("dubbo", 20, true))
	c.destroy()
	assert.Less(t, get(t, lbl("dubbo", greeter, "greet"), keyLatencySum), time.Second.Microseconds())
}

func TestCardinalityCap(t *testing.T) {
	reset(t)
	fac := newFactory(t, map[string]interface{}{"max_series": 2.0})
	for i := 0; i < 5; i++ {
		m := fmt.Sprintf("m%d", i)
		call(fac, newReq("dubbo", greeter, m), newResp("dubbo", 20, true))
		call(fac, newReq("dubbo", greeter, m), newResp("dubbo", 20, true))
	}
	assert.EqualValues(t, 2, get(t, lbl("dubbo", greeter, "m0"), keyRequests))
	assert.EqualValues(t, 2, get(t, lbl("dubbo", greeter, "m1"), keyRequests))
	_, ok := value(lbl("dubbo", greeter, "m2"), keyRequests)
	assert.False(t, ok, "m2 is beyond max_series")
	other := lbl("dubbo", OtherLabel, OtherLabel)
	assert.EqualValues(t, 6, get(t, other, keyRequests))
	assert.EqualValues(t, 6, get(t, lbl("dubbo", OtherLabel, OtherLabel, labelOutcome, "success", labelStatus, "20"), keyResponses))
	assert.EqualValues(t, 0, get(t, other, keyInFlight))
	assert.Equal(t, 3, seriesCount()) // m0, m1, other

	// The overflow is per protocol.
	call(fac, newReq("thrift", calc, "add"), newResp("thrift", 0, true))
	assert.EqualValues(t, 1, get(t, lbl("thrift", OtherLabel, OtherLabel), keyRequests))

	// The cap is process-wide: another listener's filter with the same
	// cap admits no new pair, but shares the admitted ones.
	fac2 := newFactory(t, map[string]interface{}{"max_series": 2.0})
	call(fac2, newReq("dubbo", greeter, "m0"), newResp("dubbo", 20, true))
	call(fac2, newReq("dubbo", greeter, "m9"), newResp("dubbo", 20, true))
	assert.EqualValues(t, 3, get(t, lbl("dubbo", greeter, "m0"), keyRequests))
	assert.EqualValues(t, 7, get(t, other, keyRequests))

	// The handle cache holds admitted keys and the overflow only.
	n := 0
	fac.handles.Range(func(_, _ interface{}) bool { n++; return true })
	assert.Equal(t, 4, n) // m0, m1, dubbo other, thrift other

	// max_series 0 counts everything per protocol.
	reset(t)
	fac0 := newFactory(t, map[string]interface{}{"max_series": 0.0})
	call(fac0, newReq("dubbo", greeter, "greet"), newResp("dubbo", 20, true))
	assert.EqualValues(t, 1, get(t, other, keyRequests))
	assert.Equal(t, 1, seriesCount())
}

func TestLabelValuesAreSafeForTheExposition(t *testing.T) {
	assert.Equal(t, greeter, labelValue(greeter, true))
	assert.Equal(t, "unknown", labelValue("", true))
	assert.Equal(t, `a_b_c_d`, labelValue("a\"b\\c\nd", true))
	assert.Equal(t, "say_hello", labelValue("say.hello", false))
	assert.Equal(t, "grüße", labelValue("grüße", true))
	assert.Equal(t, "a_b", labelValue("a\xffb", true))
	long := strings.Repeat("x", 300)
	assert.Len(t, labelValue(long, true), maxLabelLen)

	reset(t)
	fac := newFactory(t, nil)
	for i := 0; i < 50; i++ {
		// 50 different raw names, one sanitized series.
		call(fac, newReq("dubbo", "evil\""+strings.Repeat("\n", i), "m"), newResp("dubbo", 20, true))
	}
	n := 0
	fac.handles.Range(func(_, _ interface{}) bool { n++; return true })
	assert.LessOrEqual(t, n, 50)
	assert.Equal(t, 50, seriesCount())
	// Raw names that sanitize to one value share its series.
	reset(t)
	fac = newFactory(t, nil)
	call(fac, newReq("dubbo", "a\"b", "m"), newResp("dubbo", 20, true))
	call(fac, newReq("dubbo", "a\\b", "m"), newResp("dubbo", 20, true))
	call(fac, newReq("dubbo", "a\nb", "m"), newResp("dubbo", 20, true))
	assert.EqualValues(t, 3, get(t, lbl("dubbo", "a_b", "m"), keyRequests))
	assert.Equal(t, 1, seriesCount())
	n = 0
	fac.handles.Range(func(_, _ interface{}) bool { n++; return true })
	assert.Equal(t, 1, n, "unclean raw names are not cached")
}

func TestStatusCardinalityCap(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	for st := uint32(1); st <= 40; st++ {
		call(fac, newReq("dubbo", greeter, "greet"), newResp("dubbo", st, false))
	}
	n := 0
	for st := 1; st <= 40; st++ {
		if _, ok := value(lbl("dubbo", greeter, "greet", labelOutcome, "failure", labelStatus, fmt.Sprint(st)), keyResponses); ok {
			n++
		}
	}
	assert.Equal(t, maxStatuses, n)
	assert.EqualValues(t, 40-maxStatuses, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "failure", labelStatus, OtherLabel), keyResponses))
	// Outcomes still get their own "other".
	call(fac, newReq("dubbo", greeter, "greet"), newResp("dubbo", 99, true))
	assert.EqualValues(t, 1, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "success", labelStatus, OtherLabel), keyResponses))
	// An already known status keeps its own counter.
	call(fac, newReq("dubbo", greeter, "greet"), newResp("dubbo", 3, false))
	assert.EqualValues(t, 2, get(t, lbl("dubbo", greeter, "greet", labelOutcome, "failure", labelStatus, "3"), keyResponses))
}

// Many streams at once, across two filter configs sharing the series: the
// gauge must end at 0, and the counts must add up.
func TestConcurrentStreamsLeaveNothingInFlight(t *testing.T) {
	reset(t)
	facs := []*factory{newFactory(t, nil), newFactory(t, nil)}
	const workers, per = 16, 300
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := &fakeStream{}
			for i := 0; i < per; i++ {
				c.start(facs[(w+i)%2])
				req := newReq("dubbo", greeter, fmt.Sprintf("m%d", i%4))
				req.oneway = i%7 == 0
				c.receive(req)
				switch {
				case req.oneway:
				case i%5 == 0: // reset, no response
				case i%3 == 0:
					c.send(newResp("dubbo", 70, false))
				default:
					c.send(newResp("dubbo", 20, true))
				}
				c.destroy()
			}
		}(w)
	}
	wg.Wait()
	var requests, ended int64
	for m := 0; m < 4; m++ {
		d := lbl("dubbo", greeter, fmt.Sprintf("m%d", m))
		assert.EqualValues(t, 0, get(t, d, keyInFlight))
		requests += get(t, d, keyRequests)
		ended += get(t, d, keyOneway) + get(t, d, keyUnanswered)
		for _, o := range []string{"success", "failure"} {
			st := map[string]string{"success": "20", "failure": "70"}[o]
			if v, ok := value(lbl("dubbo", greeter, fmt.Sprintf("m%d", m), labelOutcome, o, labelStatus, st), keyResponses); ok {
				ended += v
			}
		}
	}
	assert.EqualValues(t, workers*per, requests)
	assert.Equal(t, requests, ended, "requests = responses + oneway + unanswered + in flight(0)")
}

func TestInFlightGaugeIsNeverLeftStale(t *testing.T) {
	reset(t)
	s, err := newSeries(seriesKey{"dubbo", greeter, "race"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				s.addInflight(1)
				s.addInflight(-1)
			}
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 0, get(t, lbl("dubbo", greeter, "race"), keyInFlight))
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	reset(t)
	fac := newFactory(t, nil)
	c := &fakeStream{}
	req := newReq("dubbo", greeter, "greet")
	resp := newResp("dubbo", 20, true)
	run := func() {
		c.start(fac)
		c.receive(req)
		c.send(resp)
		c.destroy()
	}
	run() // creates the series
	allocs := testing.AllocsPerRun(1000, run)
	assert.Zero(t, allocs)
}
