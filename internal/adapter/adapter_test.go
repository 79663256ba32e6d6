package adapter

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubboreg"
	"github.com/meshproto/meshproto/internal/dubboxds"
)

const iface = "org.meshproto.demo.UserProvider"

func nodeAt(port int) string {
	return url.QueryEscape(fmt.Sprintf("dubbo://127.0.0.1:%d/%s?version=1.0.0", port, iface))
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(f string, args ...interface{}) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, args...))
	l.mu.Unlock()
}

func (l *logs) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func newAdapter(t *testing.T, hold time.Duration) (*Adapter, *logs) {
	cp, err := controlplane.StartShared("127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(cp.Close)
	l := &logs{}
	return New(cp, dubboxds.Options{ListenHost: "127.0.0.1", ListenPort: 20881}, hold, l.logf), l
}

func providers(a *Adapter) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.model.Count()
}

// TestRemovalHoldDown: a node deleted and created again within the hold
// never leaves the sidecars' configuration; one that stays deleted
// leaves once the hold expires, without another registry change.
func TestRemovalHoldDown(t *testing.T) {
	a, l := newAdapter(t, 200*time.Millisecond)
	both := dubboreg.Registry{Providers: map[string][]string{iface: {nodeAt(1), nodeAt(2)}}}
	a.OnChange(both)
	require.Equal(t, 2, providers(a))

	// dubbo-go's re-registration after a ZooKeeper outage: delete, create.
	a.OnChange(dubboreg.Registry{Providers: map[string][]string{iface: {nodeAt(1)}}})
	assert.Equal(t, 2, providers(a), "held")
	a.OnChange(both)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 2, providers(a))
	assert.Zero(t, l.count("provider removed"), "a flap is never published")

	// A provider that died: gone after the hold, by the timer alone.
	a.OnChange(dubboreg.Registry{Providers: map[string][]string{iface: {nodeAt(1)}}})
	assert.Equal(t, 2, providers(a))
	require.Eventually(t, func() bool { return providers(a) == 1 }, 2*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, l.count("provider removed: "+iface+":1.0.0 at 127.0.0.1:2"))

	// The whole interface goes: held too, then an empty model.
	a.OnChange(dubboreg.Registry{Providers: map[string][]string{}})
	assert.Equal(t, 1, providers(a))
	require.Eventually(t, func() bool { return providers(a) == 0 }, 2*time.Second, 10*time.Millisecond)
}

func TestNoHoldDown(t *testing.T) {
	a, _ := newAdapter(t, 0)
	a.OnChange(dubboreg.Registry{Providers: map[string][]string{iface: {nodeAt(1), nodeAt(2)}}})
	a.OnChange(dubboreg.Registry{Providers: map[string][]string{iface: {nodeAt(1)}}})
	assert.Equal(t, 1, providers(a))
}

func TestHTTPEndpoints(t *testing.T) {
	a, _ := newAdapter(t, 0)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	code, _ := get("/healthz")
	assert.Equal(t, 503, code, "nothing pushed yet")
	a.OnChange(dubboreg.Registry{Providers: map[string][]string{iface: {nodeAt(1), "garbage"}}})
	code, body := get("/healthz")
	assert.Equal(t, 200, code, body)
	_, body = get("/metrics")
	for _, want := range []string{
		`meshproto_registry_providers{interface="` + iface + `",group=""} 1`,
		"meshproto_registry_pushes_total 1",
		"meshproto_registry_problems 1",
		"# TYPE meshproto_registry_xds_streams gauge",
	} {
		assert.Contains(t, body, want)
	}
	_, body = get("/registry")
	assert.Contains(t, body, `"Interface": "`+iface+`"`)
	resp, err := srv.Client().Post(srv.URL+"/pub", "application/json", strings.NewReader(`{"service":{"interface":"a.B"}}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode, "no registration API without -register-address")
}

// TestHoldDownTimerPushesTheLatestRegistry: the hold-down timer's push
// races zkwatch's. Whatever the interleaving, once the registry stops
// changing and the holds expire, the sidecars get exactly the last
// registry: the timer never pushes a registry older than one already
// pushed (which would then stay in effect until the next change).
func TestHoldDownTimerPushesTheLatestRegistry(t *testing.T) {
	a, _ := newAdapter(t, time.Millisecond)
	reg := func(ports ...int) dubboreg.Registry {
		var nodes []string
		for _, p := range ports {
			nodes = append(nodes, nodeAt(p))
		}
		return dubboreg.Registry{Providers: map[string][]string{iface: nodes}}
	}
	for round := 0; round < 300; round++ {
		// Every change removes a node, so a hold and its timer are
		// always pending while the next change arrives.
		a.OnChange(reg(1, 2, 3))
		time.Sleep(time.Duration(round%3) * 300 * time.Microsecond)
		a.OnChange(reg(1, 2))
		time.Sleep(time.Duration(round%5) * 200 * time.Microsecond)
		a.OnChange(reg(1))
	}
	require.Eventually(t, func() bool { return providers(a) == 1 }, 2*time.Second, 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond) // any timer still armed has fired
	assert.Equal(t, 1, providers(a), "the last registry is what stays pushed")
	a.mu.Lock()
	assert.Equal(t, reg(1).Providers, a.lastReg.Providers)
	a.mu.Unlock()
}
