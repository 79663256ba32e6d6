package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubbopeer"
)

const prometheusBin = "/usr/bin/prometheus"

// startPrometheus runs Debian's Prometheus scraping target every second
// and returns its HTTP address.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	if _, err := os.Stat(prometheusBin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Prometheus missing in CI (apt-get install prometheus): %v", err)
		}
		t.Skipf("Prometheus missing (apt-get install prometheus): %v", err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: meshproto\n    static_configs:\n      - targets: [%q]\n", target)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644))
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logs := &syncBuffer{}
	cmd := exec.Command(prometheusBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- prometheus log (tail) ---\n%s", tail(logs.String(), 3000))
		}
	})
	require.Eventually(t, func() bool {
		r, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, 30*time.Second, 100*time.Millisecond, "prometheus ready:\n%s", logs.String())
	return addr
}

// promSeries is one series of an instant query.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Value  []interface{}     `json:"value"`
}

func promQuery(t *testing.T, addr, expr string) []promSeries {
	t.Helper()
	r, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(expr))
	require.NoError(t, err)
	defer r.Body.Close()
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []promSeries `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.NewDecoder(r.Body).Decode(&out))
	require.Equal(t, "success", out.Status, "%s: %s", expr, out.Error)
	return out.Data.Result
}

// TestGrafanaDashboardAgainstPrometheus: a real Prometheus scrapes the
// governed sidecar while Dubbo and Thrift calls of every outcome go
// through it, and every query of configs/grafana/meshproto-dashboard.json
// (with its variables at "All") returns the series its panel shows.
func TestGrafanaDashboardAgainstPrometheus(t *testing.T) {
	t.Parallel()
	clients := thriftClients(t)
	g := startGoverned(t)
	prom := startPrometheus(t, g.metricsAddr)

	raw, err := os.ReadFile(filepath.Join(repoRoot(), "configs/grafana/meshproto-dashboard.json"))
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(raw, &dash))
	require.NotEmpty(t, dash.Panels)

	// Traffic of every kind for a few scrapes.
	c, err := dubbopeer.Dial(ctxTimeout(t, 5*time.Second), g.dubbo)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			for _, inv := range []*dubbopeer.Invocation{
				{Service: greetingService, Method: "greet", Args: []interface{}{"ok"}},
				{Service: greetingService, Method: "fail", Args: []interface{}{"boom"}}, // an exception: status 20
				{Service: orderService, Method: "place", Args: []interface{}{"book"}},
				{Service: greetingService, Method: "greet", Args: []interface{}{"t"}, Attachments: map[string]string{"x-tenant": "dash"}},
				{Service: "org.meshproto.demo.Nope", Method: "greet", Args: []interface{}{"x"}},
			} {
				inv.Version = "1.0.0"
				cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
				_, _ = c.Call(cctx, inv)
				ccancel()
			}
			// A oneway call, and a call whose caller leaves before the answer.
			if conn, err := net.Dial("tcp", g.dubbo); err == nil {
				ow, _ := dubbopeer.EncodeRequestFrame(uint64(1000+i), &dubbopeer.Invocation{Service: greetingService, Method: "greet", Version: "1.0.0", Args: []interface{}{"ow"}}, false)
				sl, _ := dubbopeer.EncodeRequestFrame(uint64(2000+i), &dubbopeer.Invocation{Service: greetingService, Method: "sleep", Version: "1.0.0", Args: []interface{}{int32(500)}}, true)
				_, _ = conn.Write(append(ow, sl...))
				time.Sleep(100 * time.Millisecond)
				conn.Close()
			}
			lines, _ := clients[0].run(t, "-addr", g.thrift, "-transport", "header", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "dash")
			if len(lines) != 1 || !lines[0].OK {
				t.Errorf("thrift call: %+v", lines)
			}
			_, _ = clients[0].run(t, "-addr", g.thrift, "-transport", "header", "-protocol", "compact", "-multiplex", "-method", "greet", "-name", "panic") // TApplicationException
			time.Sleep(200 * time.Millisecond)
		}
	}()
	wg.Wait()

	// Grafana's variables: all protocols and services, a rate window that
	// covers the traffic.
	vars := strings.NewReplacer(`"$protocol"`, `".*"`, `"$service"`, `".*"`, "$__rate_interval", "30s")
	want := map[string][]string{ // panel title -> protocols its series must include
		"Calls per second":                                   {"dubbo", "thrift"},
		"Success ratio":                                      {"dubbo", "thrift"},
		"Upstream errors by native status":                   {"thrift"}, // a TApplicationException
		"Proxy answers by code (no route, timeout, filters)": {"dubbo"},
		"Latency p50 / p99":                                  {"dubbo", "thrift"},
		"Mean latency":                                       {"dubbo", "thrift"},
		"In flight":                                          {"dubbo", "thrift"},
		"Rate-limited calls":                                 {"dubbo"},
		"Denied calls":                                       {"dubbo"},
		"Oneway and unanswered calls":                        {"dubbo"},
	}
	require.Len(t, dash.Panels, len(want), "every panel has its expectation here")
	for _, p := range dash.Panels {
		protos, ok := want[p.Title]
		require.True(t, ok, "panel %q", p.Title)
		for _, target := range p.Targets {
			expr := vars.Replace(target.Expr)
			var got []promSeries
			require.Eventually(t, func() bool { got = promQuery(t, prom, expr); return len(got) > 0 }, 10*time.Second, 250*time.Millisecond, "%s: %s", p.Title, expr)
			seen := map[string]bool{}
			for _, s := range got {
				seen[s.Metric["protocol"]] = true
			}
			for _, proto := range protos {
				assert.True(t, seen[proto], "%s: %s: no %s series in %v", p.Title, expr, proto, got)
			}
		}
	}
	// The proxy's answers carry MOSN's code: 404 no route, 403 denied, 429
	// rate limited.
	codes := map[string]bool{}
	for _, s := range promQuery(t, prom, vars.Replace(`sum by (status) (meshproto_rpc_responses_total{protocol="dubbo", outcome="local"})`)) {
		codes[s.Metric["status"]] = true
	}
	for _, code := range []string{"404", "403", "429"} {
		assert.True(t, codes[code], "local status %s in %v", code, codes)
	}
}
