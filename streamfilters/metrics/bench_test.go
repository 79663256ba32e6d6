package metrics

import (
	"strconv"
	"sync/atomic"
	"testing"

	"mosn.io/api"
)

// One stream's whole life in the steady state: chain creation (pooled
// filter), OnReceive, Append, OnDestroy, on an existing series.
func BenchmarkStream(b *testing.B) {
	reset(b)
	fac := newFactory(b, nil)
	c := &fakeStream{}
	req := newReq("dubbo", greeter, "greet")
	resp := newResp("dubbo", 20, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.start(fac)
		c.receive(req)
		c.send(resp)
		c.destroy()
	}
}

// The same, from all Ps at once on one hot series (worst contention) and
// on a series per goroutine.
func BenchmarkStreamParallel(b *testing.B) {
	for _, tc := range []struct {
		name   string
		series func(i int64) string
	}{
		{"one-series", func(int64) string { return "greet" }},
		{"series-per-goroutine", func(i int64) string { return "m" + strconv.FormatInt(i, 10) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reset(b)
			fac := newFactory(b, nil)
			var id atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := &fakeStream{}
				req := newReq("dubbo", greeter, tc.series(id.Add(1)))
				resp := newResp("dubbo", 20, true)
				for pb.Next() {
					c.start(fac)
					c.receive(req)
					c.send(resp)
					c.destroy()
				}
			})
		})
	}
}

// A failure and a proxy-made reply take the same path as a success.
func BenchmarkStreamLocalReply(b *testing.B) {
	reset(b)
	fac := newFactory(b, nil)
	c := &fakeStream{ctx: hijackCtx(b, api.TimeoutExceptionCode)}
	req := newReq("dubbo", greeter, "greet")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.start(fac)
		c.receive(req)
		c.send(req)
		c.destroy()
	}
}

// Requests beyond max_series, each with a name never seen: the overflow
// path must stay cheap and must not grow any cache.
func BenchmarkStreamOverflow(b *testing.B) {
	reset(b)
	fac := newFactory(b, map[string]interface{}{"max_series": 0.0})
	c := &fakeStream{}
	reqs := make([]*fakeRequest, 1024)
	for i := range reqs {
		reqs[i] = newReq("dubbo", greeter, "m"+strconv.Itoa(i))
	}
	resp := newResp("dubbo", 20, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.start(fac)
		c.receive(reqs[i%len(reqs)])
		c.send(resp)
		c.destroy()
	}
}

// The cost of a new series (once per protocol+service+method): MOSN
// metrics objects for the base series, one per latency bucket, and the
// first outcome. B/op is roughly the memory a series keeps.
func BenchmarkNewSeries(b *testing.B) {
	reset(b)
	fac := newFactory(b, nil)
	fac.maxSeries = 1 << 30
	c := &fakeStream{}
	resp := newResp("dubbo", 20, true)
	reqs := make([]*fakeRequest, b.N)
	for i := range reqs {
		reqs[i] = newReq("dubbo", greeter, "m"+strconv.Itoa(i))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.start(fac)
		c.receive(reqs[i])
		c.send(resp)
		c.destroy()
	}
}
