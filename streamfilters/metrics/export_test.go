package metrics

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mosn.io/api"
	"mosn.io/mosn/pkg/admin/store"
	"mosn.io/mosn/pkg/metrics/sink"
	_ "mosn.io/mosn/pkg/metrics/sink/prometheus" // the sink the meshproto binary links
)

// TestPrometheusExport starts MOSN's own Prometheus sink as MOSN does for
// {"metrics": {"sinks": [{"type": "prometheus", "config": {"port": N}}]}},
// scrapes /metrics over HTTP and checks the series, byte for byte, and that
// Prometheus' own text parser accepts the whole exposition.
func TestPrometheusExport(t *testing.T) {
	reset(t)
	fac := newFactory(t, map[string]interface{}{"latency_buckets_ms": []interface{}{1.0, 10.0}})
	for i := 0; i < 3; i++ {
		call(fac, newReq("dubbo", "org.example.Greeter", "greet"), newResp("dubbo", 20, true))
	}
	call(fac, newReq("dubbo", "org.example.Greeter", "greet"), newResp("dubbo", 70, false))
	c := &fakeStream{ctx: hijackCtx(t, api.TimeoutExceptionCode)}
	c.start(fac)
	req := newReq("dubbo", "org.example.Greeter", "greet")
	c.receive(req)
	c.send(req)
	c.destroy()
	ow := newReq("thrift", "Greeter", "ping")
	ow.oneway = true
	call(fac, ow, nil)

	port := freePort(t)
	_, err := sink.CreateMetricsSink("prometheus", map[string]interface{}{
		"port":                    port,
		"disable_collect_process": true,
		"disable_collect_go":      true,
	})
	require.NoError(t, err)
	require.NoError(t, store.StartService(nil))
	t.Cleanup(store.CloseService)

	body := scrape(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	t.Logf("/metrics:\n%s", body)

	const lbls = `method="greet",protocol="dubbo",service="org.example.Greeter"`
	for _, want := range []string{
		"# TYPE meshproto_rpc_requests_total counter",
		`meshproto_rpc_requests_total{` + lbls + `} 5.0`,
		`meshproto_rpc_responses_total{method="greet",outcome="success",protocol="dubbo",service="org.example.Greeter",status="20"} 3.0`,
		`meshproto_rpc_responses_total{method="greet",outcome="failure",protocol="dubbo",service="org.example.Greeter",status="70"} 1.0`,
		`meshproto_rpc_responses_total{method="greet",outcome="local",protocol="dubbo",service="org.example.Greeter",status="504"} 1.0`,
		"# TYPE meshproto_rpc_in_flight gauge",
		`meshproto_rpc_in_flight{` + lbls + `} 0.0`,
		`meshproto_rpc_oneway_total{` + lbls + `} 0.0`,
		`meshproto_rpc_unanswered_total{` + lbls + `} 0.0`,
		`meshproto_rpc_latency_us_count{` + lbls + `} 5.0`,
		`meshproto_rpc_latency_us_bucket{le="+Inf",` + lbls + `} 5.0`,
		`meshproto_rpc_latency_us_bucket{le="1000",` + lbls + `}`,
		`meshproto_rpc_latency_us_bucket{le="10000",` + lbls + `}`,
		`meshproto_rpc_latency_us_sum{` + lbls + `}`,
		`meshproto_rpc_requests_total{method="ping",protocol="thrift",service="Greeter"} 1.0`,
		`meshproto_rpc_oneway_total{method="ping",protocol="thrift",service="Greeter"} 1.0`,
	} {
		assert.Contains(t, body, want)
	}

	// Prometheus' parser reads it: names, types, labels and values.
	fams, err := new(expfmt.TextParser).TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	req5 := fams["meshproto_rpc_requests_total"]
	require.NotNil(t, req5)
	assert.Equal(t, "COUNTER", req5.GetType().String())
	found := false
	for _, m := range req5.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if sameLabels(got, lbl("dubbo", "org.example.Greeter", "greet")) {
			found = true
			assert.Equal(t, 5.0, m.GetCounter().GetValue())
		}
	}
	assert.True(t, found)
	assert.Equal(t, "GAUGE", fams["meshproto_rpc_in_flight"].GetType().String())
	for _, name := range []string{"meshproto_rpc_responses_total", "meshproto_rpc_latency_us_bucket", "meshproto_rpc_latency_us_count",
		"meshproto_rpc_latency_us_sum", "meshproto_rpc_oneway_total", "meshproto_rpc_unanswered_total"} {
		assert.Contains(t, fams, name)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func scrape(t *testing.T, url string) string {
	var err error
	for i := 0; i < 50; i++ {
		var resp *http.Response
		resp, err = http.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, rerr)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			return string(b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	return ""
}
