package zkwatch

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"

	"github.com/meshproto/meshproto/internal/dubboreg"
	"github.com/meshproto/meshproto/internal/zktest"
)

type recorder struct {
	mu   sync.Mutex
	last dubboreg.Registry
	n    int
}

func (r *recorder) set(reg dubboreg.Registry) {
	r.mu.Lock()
	r.last, r.n = reg, r.n+1
	r.mu.Unlock()
}

func (r *recorder) wait(t *testing.T, what string, ok func(dubboreg.Registry) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		reg, n := r.last, r.n
		r.mu.Unlock()
		if n > 0 && ok(reg) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not seen within 15s (last: %+v)", what, r.last)
}

func providerNode(iface, addr, version string) string {
	return url.QueryEscape("dubbo://" + addr + "/" + iface + "?interface=" + iface + "&version=" + version)
}

// TestWatchFollowsTheRegistry: providers, interfaces and rules added and
// removed arrive as whole states; an empty provider set is published; a
// ZooKeeper restart keeps the last state and changes after it arrive.
func TestWatchFollowsTheRegistry(t *testing.T) {
	zks := zktest.Start(t)
	c := zks.Client(t)

	const a, b = "org.example.A", "org.example.B"
	zktest.Ensure(t, c, "/dubbo/"+a+"/providers")
	n1 := providerNode(a, "127.0.0.1:20001", "1.0.0")
	_, err := c.Create("/dubbo/"+a+"/providers/"+n1, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)

	rec := &recorder{}
	w, err := Start(Config{Servers: []string{zks.Addr()}, SessionTimeout: 4 * time.Second, Debounce: 50 * time.Millisecond,
		OnChange: rec.set, Logf: t.Logf})
	require.NoError(t, err)
	defer w.Close()
	rec.wait(t, "first listing", func(r dubboreg.Registry) bool { return len(r.Providers[a]) == 1 && r.Providers[a][0] == n1 })
	require.True(t, w.Status().Synced)
	require.True(t, w.Status().Connected)

	// A second interface appears, with its providers node created later.
	zktest.Ensure(t, c, "/dubbo/"+b)
	rec.wait(t, "interface without providers node", func(r dubboreg.Registry) bool { p, ok := r.Providers[b]; return ok && len(p) == 0 })
	zktest.Ensure(t, c, "/dubbo/"+b+"/providers")
	n2 := providerNode(b, "127.0.0.1:20002", "2.0.0")
	_, err = c.Create("/dubbo/"+b+"/providers/"+n2, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	rec.wait(t, "provider of B", func(r dubboreg.Registry) bool { return len(r.Providers[b]) == 1 })

	// A rule appears and changes.
	zktest.Ensure(t, c, "/dubbo/config/dubbo")
	rule := "/dubbo/config/dubbo/" + a + "::.configurators"
	_, err = c.Create(rule, []byte("scope: service\nkey: "+a+"\n"), 0, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	rec.wait(t, "rule", func(r dubboreg.Registry) bool { return string(r.Rules[a+"::.configurators"]) != "" })
	_, err = c.Set(rule, []byte("scope: service\nkey: changed\n"), -1)
	require.NoError(t, err)
	rec.wait(t, "rule change", func(r dubboreg.Registry) bool {
		return string(r.Rules[a+"::.configurators"]) == "scope: service\nkey: changed\n"
	})

	// The last provider of A goes: A stays, with an empty set.
	require.NoError(t, c.Delete("/dubbo/"+a+"/providers/"+n1, -1))
	rec.wait(t, "empty set", func(r dubboreg.Registry) bool { p, ok := r.Providers[a]; return ok && len(p) == 0 })

	// ZooKeeper down: the last state stays; back: changes arrive.
	zks.Stop()
	time.Sleep(2 * time.Second)
	require.Len(t, w.Snapshot().Providers[b], 1, "state kept while ZooKeeper is down")
	zks.Restart()
	require.Eventually(t, func() bool { return c.State() == zk.StateHasSession }, 15*time.Second, 50*time.Millisecond)
	n3 := providerNode(a, "127.0.0.1:20003", "1.0.0")
	_, err = c.Create("/dubbo/"+a+"/providers/"+n3, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	rec.wait(t, "change after the restart", func(r dubboreg.Registry) bool { return len(r.Providers[a]) == 1 && len(r.Providers[b]) == 1 })

	// The interface is deleted: it leaves the state.
	require.NoError(t, c.Delete("/dubbo/"+b+"/providers/"+n2, -1))
	require.NoError(t, c.Delete("/dubbo/"+b+"/providers", -1))
	require.NoError(t, c.Delete("/dubbo/"+b, -1))
	rec.wait(t, "interface gone", func(r dubboreg.Registry) bool { _, ok := r.Providers[b]; return !ok })
}
