// Package adapter is the registry adapter's core: it turns every state of
// the ZooKeeper registry (zkwatch) into sidecar configuration (dubboxds)
// served over ADS (controlplane), and serves the adapter's HTTP side: the
// registration API (zkregister), Prometheus metrics, health and a JSON
// view of what is routed.
package adapter

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshproto/meshproto/internal/controlplane"
	"github.com/meshproto/meshproto/internal/dubboreg"
	"github.com/meshproto/meshproto/internal/dubboxds"
	"github.com/meshproto/meshproto/internal/istiomcp"
	"github.com/meshproto/meshproto/internal/zkregister"
	"github.com/meshproto/meshproto/internal/zkwatch"
)

// Adapter holds the last model and pushes.
type Adapter struct {
	cp      *controlplane.Server
	opts    dubboxds.Options
	logf    func(string, ...interface{})
	watcher *zkwatch.Watcher      // set after Start
	reg     *zkregister.Registrar // nil: no registration API
	istio   *IstioOutput          // nil: no Istio resources

	pushMu     sync.Mutex // serializes OnChange (zkwatch and the hold-down timer)
	mu         sync.Mutex
	model      dubboreg.Model
	pushes     int
	pushErrors int
	lastPush   time.Time
	pushTime   time.Duration
	problems   map[string]bool // logged once each
	published  bool

	// Removal hold-down: a provider node that disappears stays routed
	// for holdDown unless it is back by then (see OnChange).
	holdDown time.Duration
	lastReg  dubboreg.Registry
	gone     map[goneKey]time.Time
	recheck  *time.Timer
}

type goneKey struct{ iface, node string }

// New makes an adapter that serves through cp. holdDown is how long a
// provider node that disappeared stays routed unless it comes back.
func New(cp *controlplane.Server, opts dubboxds.Options, holdDown time.Duration, logf func(string, ...interface{})) *Adapter {
	return &Adapter{cp: cp, opts: opts, logf: logf, problems: map[string]bool{}, holdDown: holdDown, gone: map[goneKey]time.Time{}}
}

// holdRemovals adds back the provider nodes that disappeared less than
// holdDown ago. Why: after a ZooKeeper outage dubbo-go re-registers by
// deleting its node and creating it again; published as it happens, every
// provider of the mesh would drop out of the sidecars for a moment and the
// calls in that moment fail. A provider that really died is gone after
// its session timeout plus holdDown. It also re-runs itself when the
// oldest hold expires, so a removal is published without another change.
func (a *Adapter) holdRemovals(r dubboreg.Registry) dubboreg.Registry {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	present := map[goneKey]bool{}
	for iface, nodes := range r.Providers {
		for _, n := range nodes {
			present[goneKey{iface, n}] = true
		}
	}
	for iface, nodes := range a.lastReg.Providers {
		for _, n := range nodes {
			k := goneKey{iface, n}
			if _, held := a.gone[k]; !present[k] && !held {
				a.gone[k] = now
			}
		}
	}
	a.lastReg = r
	if a.holdDown <= 0 {
		clear(a.gone)
		return r
	}
	out := dubboreg.Registry{Providers: make(map[string][]string, len(r.Providers)), Rules: r.Rules}
	for iface, nodes := range r.Providers {
		out.Providers[iface] = nodes
	}
	var next time.Duration
	for k, since := range a.gone {
		left := a.holdDown - now.Sub(since)
		if present[k] || left <= 0 {
			delete(a.gone, k)
			continue
		}
		out.Providers[k.iface] = append(append([]string(nil), out.Providers[k.iface]...), k.node)
		if next == 0 || left < next {
			next = left
		}
	}
	if next > 0 {
		if a.recheck != nil {
			a.recheck.Stop()
		}
		a.recheck = time.AfterFunc(next+time.Millisecond, a.pushLatest)
	}
	return out
}

// IstioOutput is where the model also goes as Istio resources: MCP over
// xDS for istiod, and/or a YAML file rewritten on every change.
type IstioOutput struct {
	MCP      *istiomcp.Server // nil: none
	YAMLFile string           // "": none
	Options  istiomcp.Options
}

// SetIstio makes every push also write Istio resources.
func (a *Adapter) SetIstio(o *IstioOutput) { a.istio = o }

// SetWatcher and SetRegistrar attach the ZooKeeper sides (for status and
// the registration API).
func (a *Adapter) SetWatcher(w *zkwatch.Watcher)        { a.watcher = w }
func (a *Adapter) SetRegistrar(r *zkregister.Registrar) { a.reg = r }

// OnChange is zkwatch's callback: hold recent removals, build,
// translate, push, log. Calls are serialized.
func (a *Adapter) OnChange(r dubboreg.Registry) {
	a.pushMu.Lock()
	defer a.pushMu.Unlock()
	a.pushLocked(r)
}

// pushLatest is the hold-down timer's push: the registry as zkwatch last
// reported it, read only once the push lock is held. Reading it before
// taking the lock could push an older registry after a newer one that
// got the lock first, and that older state would then stay in effect
// (with the newer one's providers held as "gone") until the next change.
func (a *Adapter) pushLatest() {
	a.pushMu.Lock()
	defer a.pushMu.Unlock()
	a.mu.Lock()
	last := a.lastReg
	a.mu.Unlock()
	a.pushLocked(last)
}

// pushLocked does OnChange's work; the caller holds pushMu.
func (a *Adapter) pushLocked(r dubboreg.Registry) {
	start := time.Now()
	m := dubboreg.Build(a.holdRemovals(r))
	res, err := dubboxds.Translate(m, a.opts)
	if err == nil {
		err = a.cp.Set(controlplane.AnyNode, res)
	}
	if err == nil && a.istio != nil {
		err = a.writeIstio(m)
	}
	took := time.Since(start)

	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range m.Problems {
		if !a.problems[p] {
			a.problems[p] = true
			a.logf("registry: %s", p)
		}
	}
	if err != nil {
		a.pushErrors++
		a.logf("push failed, sidecars keep the previous configuration: %v", err)
		return
	}
	changes := diff(a.model, m)
	a.model, a.pushes, a.lastPush, a.pushTime, a.published = m, a.pushes+1, time.Now(), took, true
	for _, c := range changes {
		a.logf("registry: %s", c)
	}
	a.logf("push %d: %d services, %d providers, %d clusters (%s)", a.pushes, len(m.Services), m.Count(), len(res.Clusters), took.Round(time.Microsecond))
}

func (a *Adapter) writeIstio(m dubboreg.Model) error {
	objs := istiomcp.Objects(m, a.istio.Options)
	if a.istio.MCP != nil {
		a.istio.MCP.Set(objs)
	}
	if a.istio.YAMLFile != "" {
		tmp := a.istio.YAMLFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(istiomcp.YAML(objs)), 0o644); err != nil {
			return fmt.Errorf("istio YAML: %w", err)
		}
		if err := os.Rename(tmp, a.istio.YAMLFile); err != nil {
			return fmt.Errorf("istio YAML: %w", err)
		}
	}
	return nil
}

// diff lists providers added and removed, one line each.
func diff(old, cur dubboreg.Model) []string {
	index := func(m dubboreg.Model) map[string]dubboreg.Provider {
		out := map[string]dubboreg.Provider{}
		for _, s := range m.Services {
			for _, p := range s.Providers {
				out[p.Key()+" at "+p.Address()] = p
			}
		}
		return out
	}
	a, b := index(old), index(cur)
	var lines []string
	for k, p := range b {
		q, had := a[k]
		switch {
		case !had:
			lines = append(lines, fmt.Sprintf("provider added: %s (weight %d, tag %q, disabled %v)", k, p.Weight, p.Tag, p.Disabled))
		case q.Weight != p.Weight || q.Tag != p.Tag || q.Disabled != p.Disabled:
			lines = append(lines, fmt.Sprintf("provider changed: %s (weight %d, tag %q, disabled %v)", k, p.Weight, p.Tag, p.Disabled))
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			lines = append(lines, "provider removed: "+k)
		}
	}
	sort.Strings(lines)
	return lines
}

// Handler serves /metrics, /healthz, /registry and the registration API.
func (a *Adapter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", a.metrics)
	mux.HandleFunc("/healthz", a.health)
	mux.HandleFunc("/registry", a.registry)
	mux.HandleFunc("/pub", a.api(func(s zkregister.Service) (string, error) { return a.reg.Publish(s) }))
	mux.HandleFunc("/unpub", a.api(func(s zkregister.Service) (string, error) { return "", a.reg.Unpublish(s) }))
	mux.HandleFunc("/sub", a.api(func(s zkregister.Service) (string, error) { return a.reg.Subscribe(s) }))
	mux.HandleFunc("/unsub", a.api(func(s zkregister.Service) (string, error) { return "", a.reg.Unsubscribe(s) }))
	return mux
}

// apiRequest is MOSN dubbod's body: the registry it names must be the
// adapter's own (one session for every interface).
type apiRequest struct {
	Registry struct {
		Type string `json:"type"`
		Addr string `json:"addr"`
	} `json:"registry"`
	Service zkregister.Service `json:"service"`
}

type apiResponse struct {
	Errno  int    `json:"err_no"`
	ErrMsg string `json:"err_msg"`
	Node   string `json:"node,omitempty"`
}

func (a *Adapter) api(do func(zkregister.Service) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reply := func(code int, resp apiResponse) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(resp)
		}
		if r.Method != http.MethodPost {
			reply(http.StatusMethodNotAllowed, apiResponse{Errno: 1, ErrMsg: "POST a JSON body"})
			return
		}
		if a.reg == nil {
			reply(http.StatusNotFound, apiResponse{Errno: 1, ErrMsg: "registration is off (start the adapter with -register-address)"})
			return
		}
		var req apiRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		if err := dec.Decode(&req); err != nil {
			reply(http.StatusBadRequest, apiResponse{Errno: 1, ErrMsg: "bad JSON body: " + err.Error()})
			return
		}
		if t := req.Registry.Type; t != "" && t != "zookeeper" {
			reply(http.StatusBadRequest, apiResponse{Errno: 1, ErrMsg: fmt.Sprintf("registry.type %q: only zookeeper", t)})
			return
		}
		node, err := do(req.Service)
		if err != nil {
			reply(http.StatusBadRequest, apiResponse{Errno: 1, ErrMsg: err.Error()})
			return
		}
		a.logf("registration API %s: %s", r.URL.Path, dubboreg.ServiceKey(req.Service.Interface, req.Service.Group, req.Service.Version))
		reply(http.StatusOK, apiResponse{ErrMsg: "ok", Node: node})
	}
}

func (a *Adapter) health(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	published := a.published
	a.mu.Unlock()
	var st zkwatch.Status
	if a.watcher != nil {
		st = a.watcher.Status()
	}
	body := map[string]interface{}{
		"serving": published, "zookeeper_session": st.Session, "zookeeper_connected": st.Connected,
		"synced": st.Synced, "last_event": st.LastEventIs,
	}
	w.Header().Set("Content-Type", "application/json")
	// Serving the last state is healthy even while ZooKeeper is away:
	// the sidecars keep routing by it.
	if !published {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (a *Adapter) registry(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	m := a.model
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(m)
}

// metrics writes the Prometheus text format.
func (a *Adapter) metrics(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	m, pushes, pushErrors, last, took := a.model, a.pushes, a.pushErrors, a.lastPush, a.pushTime
	problems := len(a.problems)
	a.mu.Unlock()
	var st zkwatch.Status
	if a.watcher != nil {
		st = a.watcher.Status()
	}
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("meshproto_registry_providers", "gauge", "Providers in effect per interface and group (disabled ones included).")
	for _, s := range m.Services {
		fmt.Fprintf(&b, "meshproto_registry_providers{interface=%q,group=%q} %d\n", s.Interface, s.Group, len(s.Providers))
	}
	metric("meshproto_registry_services", "gauge", "Interfaces and groups routed.")
	fmt.Fprintf(&b, "meshproto_registry_services %d\n", len(m.Services))
	metric("meshproto_registry_pushes_total", "counter", "Configurations pushed to the sidecars.")
	fmt.Fprintf(&b, "meshproto_registry_pushes_total %d\n", pushes)
	metric("meshproto_registry_push_errors_total", "counter", "Configurations that could not be pushed.")
	fmt.Fprintf(&b, "meshproto_registry_push_errors_total %d\n", pushErrors)
	metric("meshproto_registry_last_push_timestamp_seconds", "gauge", "When the last push happened.")
	fmt.Fprintf(&b, "meshproto_registry_last_push_timestamp_seconds %d\n", unix(last))
	metric("meshproto_registry_last_push_build_seconds", "gauge", "How long building the last push took.")
	fmt.Fprintf(&b, "meshproto_registry_last_push_build_seconds %g\n", took.Seconds())
	metric("meshproto_registry_problems", "gauge", "Registry entries that could not be applied (logged once each).")
	fmt.Fprintf(&b, "meshproto_registry_problems %d\n", problems)
	metric("meshproto_registry_xds_streams", "gauge", "Connected sidecars (ADS streams).")
	fmt.Fprintf(&b, "meshproto_registry_xds_streams %d\n", a.cp.Streams())
	if a.istio != nil && a.istio.MCP != nil {
		metric("meshproto_registry_mcp_streams", "gauge", "Connected istiods (MCP over xDS).")
		fmt.Fprintf(&b, "meshproto_registry_mcp_streams %d\n", a.istio.MCP.Streams())
	}
	metric("meshproto_registry_zookeeper_connected", "gauge", "1 while a ZooKeeper session is established.")
	fmt.Fprintf(&b, "meshproto_registry_zookeeper_connected %d\n", boolInt(st.Connected))
	metric("meshproto_registry_zookeeper_synced", "gauge", "1 once every registry path has been listed.")
	fmt.Fprintf(&b, "meshproto_registry_zookeeper_synced %d\n", boolInt(st.Synced))
	metric("meshproto_registry_zookeeper_session_expiries_total", "counter", "ZooKeeper sessions that expired (each followed by a re-list).")
	fmt.Fprintf(&b, "meshproto_registry_zookeeper_session_expiries_total %d\n", st.Expiries)
	metric("meshproto_registry_zookeeper_last_event_timestamp_seconds", "gauge", "When the last ZooKeeper event arrived.")
	fmt.Fprintf(&b, "meshproto_registry_zookeeper_last_event_timestamp_seconds %d\n", unix(st.LastEvent))
	if a.reg != nil {
		metric("meshproto_registry_registrations", "gauge", "Nodes the registration API holds in ZooKeeper.")
		fmt.Fprintf(&b, "meshproto_registry_registrations %d\n", len(a.reg.Registered()))
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = io.WriteString(w, b.String())
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
