// Package zkwatch keeps a live copy of what a Dubbo ZooKeeper registry
// holds: the provider nodes of every interface under <root> (/dubbo) and
// the rule documents under <root>/config/dubbo, and hands the whole copy
// to a callback after every change, debounced.
//
// How it stays exact: every watched path has one goroutine that lists it
// with a watch, stores the result and waits for the watch to fire, then
// lists again. ZooKeeper keeps watches across a reconnect within the
// session, and the client re-sets them; when the session expires, every
// watch fires "not watching" and each goroutine lists its path again in
// the new session, so the copy is reconciled (nothing stale, nothing
// lost). While ZooKeeper is unreachable nothing is listed and the copy is
// left as it was: the sidecars keep routing by the last state.
package zkwatch

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/meshproto/meshproto/internal/dubboreg"
)

// Config is a watcher's configuration.
type Config struct {
	Servers        []string      // host:port of the ensemble
	Root           string        // "/dubbo"
	SessionTimeout time.Duration // 0: 10s
	Debounce       time.Duration // 0: 100ms
	// OnChange gets the whole registry after every change (and once
	// after the first complete listing); calls never overlap.
	OnChange func(dubboreg.Registry)
	// Logf logs one line (the watcher's own events).
	Logf func(format string, args ...interface{})
}

// Status is the watcher's state for metrics and health.
type Status struct {
	Session     string    // zk state name: "StateHasSession", "StateDisconnected", ...
	SessionID   int64     // 0 before the first session
	Connected   bool      // a session is established now
	LastEvent   time.Time // last ZooKeeper event of any kind
	LastEventIs string
	Synced      bool // every known path has been listed at least once
	Expiries    int  // sessions that expired (each followed by a re-list)
}

// Watcher is a running watch. Close stops it.
type Watcher struct {
	cfg    Config
	conn   *zk.Conn
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	providers map[string][]string // interface -> provider nodes
	rules     map[string][]byte   // rule node -> document
	ifaceStop map[string]context.CancelFunc
	ruleStop  map[string]context.CancelFunc
	pending   int             // paths not listed yet
	listed    map[string]bool // paths listed at least once
	synced    bool            // the first complete listing was logged
	status    Status
	dirty     bool
	timer     *time.Timer
	publishMu sync.Mutex // serializes OnChange
}

// Start connects and starts watching. It does not wait for ZooKeeper:
// the first OnChange comes once everything has been listed.
func Start(cfg Config) (*Watcher, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("zkwatch: no ZooKeeper server")
	}
	if cfg.Root == "" {
		cfg.Root = "/dubbo"
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...interface{}) {}
	}
	conn, events, err := zk.Connect(cfg.Servers, cfg.SessionTimeout, zk.WithLogger(quiet{}))
	if err != nil {
		return nil, fmt.Errorf("zkwatch: connect %v: %w", cfg.Servers, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{cfg: cfg, conn: conn, ctx: ctx, cancel: cancel,
		providers: map[string][]string{}, rules: map[string][]byte{},
		ifaceStop: map[string]context.CancelFunc{}, ruleStop: map[string]context.CancelFunc{},
		pending: 2, listed: map[string]bool{}}
	w.wg.Add(3)
	go w.sessionLoop(events)
	go w.children(ctx, cfg.Root, w.setInterfaces)
	go w.children(ctx, path.Join(cfg.Root, "config", "dubbo"), w.setRuleNodes)
	return w, nil
}

// Close stops every watch and the session.
func (w *Watcher) Close() {
	w.cancel()
	w.conn.Close()
	w.wg.Wait()
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
}

// Status reports the session and sync state.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Synced = w.pending == 0
	return s
}

// Snapshot is the registry as last listed.
func (w *Watcher) Snapshot() dubboreg.Registry {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.snapshotLocked()
}

func (w *Watcher) snapshotLocked() dubboreg.Registry {
	r := dubboreg.Registry{Providers: make(map[string][]string, len(w.providers)), Rules: make(map[string][]byte, len(w.rules))}
	for k, v := range w.providers {
		r.Providers[k] = append([]string(nil), v...)
	}
	for k, v := range w.rules {
		r.Rules[k] = v
	}
	return r
}

func (w *Watcher) sessionLoop(events <-chan zk.Event) {
	defer w.wg.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Type != zk.EventSession {
				continue
			}
			w.mu.Lock()
			prev := w.status.Session
			w.status.Session = ev.State.String()
			w.status.LastEvent = time.Now()
			w.status.LastEventIs = "session " + ev.State.String()
			w.status.Connected = ev.State == zk.StateHasSession
			if ev.State == zk.StateHasSession {
				w.status.SessionID = w.conn.SessionID()
			}
			if ev.State == zk.StateExpired {
				w.status.Expiries++
			}
			w.mu.Unlock()
			if prev != ev.State.String() {
				switch ev.State {
				case zk.StateHasSession, zk.StateDisconnected, zk.StateExpired:
					w.cfg.Logf("zookeeper %s: %s (session 0x%x)", ev.Server, ev.State, w.conn.SessionID())
				}
			}
		}
	}
}

// children keeps one path's children listed until ctx ends, calling set
// with each listing (exists false: the path is gone or not there yet).
func (w *Watcher) children(ctx context.Context, p string, set func(ctx context.Context, children []string, exists bool)) {
	defer w.wg.Done()
	w.loop(ctx, p, func() (<-chan zk.Event, error) {
		kids, _, ch, err := w.conn.ChildrenW(p)
		if err == nil {
			sort.Strings(kids)
			set(ctx, kids, true)
		}
		return ch, err
	}, func() { set(ctx, nil, false) })
}

// data keeps one node's content listed until ctx ends.
func (w *Watcher) data(ctx context.Context, p string, set func(doc []byte, exists bool)) {
	defer w.wg.Done()
	w.loop(ctx, p, func() (<-chan zk.Event, error) {
		doc, _, ch, err := w.conn.GetW(p)
		if err == nil {
			set(doc, true)
		}
		return ch, err
	}, func() { set(nil, false) })
}

// loop runs list (which sets a watch) and waits for the watch, again and
// again. A path that does not exist is reported gone and watched for its
// creation; errors other than that (connection lost, session expired) are
// retried after a pause without touching the state.
func (w *Watcher) loop(ctx context.Context, p string, list func() (<-chan zk.Event, error), gone func()) {
	for ctx.Err() == nil {
		ch, err := list()
		if errors.Is(err, zk.ErrNoNode) {
			gone()
			var exists bool
			exists, _, ch, err = w.conn.ExistsW(p)
			if err == nil && exists {
				continue // created meanwhile: list it
			}
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case ev := <-ch:
			w.mu.Lock()
			w.status.LastEvent = time.Now()
			w.status.LastEventIs = fmt.Sprintf("%s %s", ev.Type, ev.Path)
			w.mu.Unlock()
		}
	}
}

// setInterfaces follows the interfaces under the root: a providers watch
// per interface, started and stopped as interfaces come and go.
func (w *Watcher) setInterfaces(_ context.Context, ifaces []string, _ bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	isInterface := func(i string) bool {
		return i != "config" && i != "metadata" && i != "mapping" // Dubbo's rule and metadata trees
	}
	w.followLocked(w.ifaceStop, ifaces, isInterface, func(ctx context.Context, iface string) {
		w.children(ctx, w.providersPath(iface), func(ctx context.Context, nodes []string, _ bool) {
			w.setProviders(ctx, iface, nodes)
		})
	}, func(iface string) {
		delete(w.providers, iface)
		w.forgetLocked(w.providersPath(iface))
	})
	w.listedLocked(w.cfg.Root)
}

// followLocked keeps one watch per name in names that keep accepts: a
// new name gets run in its own goroutine, with a context that ends when
// the name goes; a gone name's watch is stopped and drop called.
func (w *Watcher) followLocked(stops map[string]context.CancelFunc, names []string, keep func(string) bool,
	run func(ctx context.Context, name string), drop func(name string)) {
	want := map[string]bool{}
	for _, n := range names {
		if !keep(n) {
			continue
		}
		want[n] = true
		if stops[n] == nil {
			ctx, cancel := context.WithCancel(w.ctx)
			stops[n] = cancel
			w.pending++
			w.wg.Add(1)
			go run(ctx, n)
		}
	}
	for n, stop := range stops {
		if !want[n] {
			stop()
			delete(stops, n)
			drop(n)
		}
	}
}

func (w *Watcher) setProviders(ctx context.Context, iface string, nodes []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() != nil {
		return // the interface is gone; its late listing must not revive it
	}
	if old, had := w.providers[iface]; !had || !equal(old, nodes) {
		if nodes == nil {
			nodes = []string{}
		}
		w.providers[iface] = nodes
		w.markLocked()
	}
	w.listedLocked(w.providersPath(iface))
}

func (w *Watcher) providersPath(iface string) string {
	return path.Join(w.cfg.Root, iface, "providers")
}

func (w *Watcher) rulePath(name string) string { return path.Join(w.cfg.Root, "config", "dubbo", name) }

func (w *Watcher) setRuleNodes(_ context.Context, names []string, _ bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	isRule := func(n string) bool { _, _, ok := dubboreg.RuleNode(n); return ok }
	w.followLocked(w.ruleStop, names, isRule, func(ctx context.Context, name string) {
		w.data(ctx, w.rulePath(name), func(doc []byte, exists bool) {
			w.setRule(ctx, name, doc, exists)
		})
	}, func(name string) {
		if _, ok := w.rules[name]; ok {
			delete(w.rules, name)
			w.markLocked()
		}
		w.forgetLocked(w.rulePath(name))
	})
	w.listedLocked(path.Join(w.cfg.Root, "config", "dubbo"))
}

func (w *Watcher) setRule(ctx context.Context, name string, doc []byte, exists bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	old, had := w.rules[name]
	switch {
	case !exists && had:
		delete(w.rules, name)
		w.markLocked()
	case exists && (!had || string(old) != string(doc)):
		w.rules[name] = doc
		w.markLocked()
	}
	w.listedLocked(w.rulePath(name))
}

// listedLocked marks a path's first listing: once every known path has
// been listed, the first state is published.
func (w *Watcher) listedLocked(p string) {
	if w.listed[p] {
		return
	}
	w.listed[p] = true
	w.pending--
	if w.pending == 0 && !w.synced {
		w.synced = true
		w.cfg.Logf("zookeeper registry listed: %d interfaces, %d rules", len(w.providers), len(w.rules))
	}
	w.markLocked()
}

// forgetLocked: a path no longer watched no longer holds up the first
// publication.
func (w *Watcher) forgetLocked(p string) {
	if !w.listed[p] {
		w.pending--
	}
	delete(w.listed, p)
	if w.pending == 0 {
		w.markLocked()
	}
}

// markLocked schedules a publication after the debounce.
func (w *Watcher) markLocked() {
	w.dirty = true
	if w.pending > 0 || w.timer != nil {
		return
	}
	w.timer = time.AfterFunc(w.cfg.Debounce, w.publish)
}

func (w *Watcher) publish() {
	w.publishMu.Lock()
	defer w.publishMu.Unlock()
	w.mu.Lock()
	w.timer = nil
	if !w.dirty || w.ctx.Err() != nil {
		w.mu.Unlock()
		return
	}
	w.dirty = false
	r := w.snapshotLocked()
	w.mu.Unlock()
	if w.cfg.OnChange != nil {
		w.cfg.OnChange(r)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// quiet drops the ZooKeeper client's own log lines (one per reconnect
// attempt); the watcher logs session changes itself.
type quiet struct{}

func (quiet) Printf(string, ...interface{}) {}
