// Package zkregister writes Dubbo provider and consumer nodes into a
// ZooKeeper registry on behalf of applications that cannot be told to
// register their sidecar's address: the registration API of the registry
// adapter (MOSN dubbod's /pub /unpub /sub /unsub shape) calls it.
//
// Unlike MOSN's dubbod it holds one ZooKeeper session for every
// interface, writes the version and group into the URL, registers each
// (service key, address) once, re-creates its ephemeral nodes in a new
// session after an expiry, and deletes them on Close.
package zkregister

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/meshproto/meshproto/internal/dubboreg"
)

// Service is what /pub and /sub name.
type Service struct {
	Interface string   `json:"interface"`
	Methods   []string `json:"methods"`
	Group     string   `json:"group"`
	Version   string   `json:"version"`
	// Weight and Tag are meshproto's additions: Dubbo's weight and
	// dubbo.tag URL parameters.
	Weight uint32 `json:"weight,omitempty"`
	Tag    string `json:"tag,omitempty"`
}

// Validate checks what goes into a node name.
func (s Service) Validate() error {
	if s.Interface == "" {
		return errors.New("service.interface is required")
	}
	for _, f := range []struct{ name, v string }{{"interface", s.Interface}, {"group", s.Group}, {"version", s.Version}, {"tag", s.Tag}} {
		if strings.ContainsAny(f.v, "/?&=#, \t\r\n") || len(f.v) > 256 {
			return fmt.Errorf("service.%s %q: no '/', '?', '&', '=', '#', ',' or spaces, at most 256 bytes", f.name, f.v)
		}
	}
	for _, m := range s.Methods {
		if m == "" || strings.ContainsAny(m, "/?&=#, \t\r\n") || len(m) > 256 {
			return fmt.Errorf("service.methods: bad method name %q", m)
		}
	}
	return nil
}

// Registrar is one ZooKeeper session holding registrations.
type Registrar struct {
	conn    *zk.Conn
	root    string
	app     string
	address string // host:port written into provider URLs (the sidecar's inbound listener)
	logf    func(string, ...interface{})

	mu    sync.Mutex
	nodes map[string]string // full node path -> kind ("provider"/"consumer"), for re-creation
	done  chan struct{}
}

// Start opens the session. address is the inbound listener registered for
// providers; app the application name written into the URLs.
func Start(servers []string, root, app, address string, sessionTimeout time.Duration, logf func(string, ...interface{})) (*Registrar, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil || net.ParseIP(host) == nil {
		return nil, fmt.Errorf("zkregister: address %q: want ip:port", address)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return nil, fmt.Errorf("zkregister: address %q: bad port", address)
	}
	if app == "" || strings.ContainsAny(app, "/?&=#, \t\r\n") {
		return nil, fmt.Errorf("zkregister: application %q: non-empty, no '/', '?', '&', '=', '#', ',' or spaces", app)
	}
	if root == "" {
		root = "/dubbo"
	}
	if logf == nil {
		logf = func(string, ...interface{}) {}
	}
	conn, events, err := zk.Connect(servers, sessionTimeout, zk.WithLogger(quiet{}))
	if err != nil {
		return nil, fmt.Errorf("zkregister: connect %v: %w", servers, err)
	}
	r := &Registrar{conn: conn, root: root, app: app, address: address, logf: logf, nodes: map[string]string{}, done: make(chan struct{})}
	go r.sessions(events)
	return r, nil
}

// sessions re-creates every node when a new session starts after an
// expiry: ephemeral nodes die with their session.
func (r *Registrar) sessions(events <-chan zk.Event) {
	var last int64
	for ev := range events {
		if ev.Type != zk.EventSession || ev.State != zk.StateHasSession {
			continue
		}
		id := r.conn.SessionID()
		if last != 0 && id != last {
			r.mu.Lock()
			paths := make([]string, 0, len(r.nodes))
			for p := range r.nodes {
				paths = append(paths, p)
			}
			r.mu.Unlock()
			sort.Strings(paths)
			for _, p := range paths {
				if err := r.create(p); err != nil {
					r.logf("registration %s lost with the session and not re-created: %v", p, err)
				}
			}
			r.logf("new ZooKeeper session 0x%x: %d registrations re-created", id, len(paths))
		}
		last = id
	}
	close(r.done)
}

// ProviderURL is the dubbo:// URL registered for s at the registrar's
// address, its parameters sorted as Dubbo sorts them.
func (r *Registrar) ProviderURL(s Service) string {
	q := url.Values{}
	q.Set("interface", s.Interface)
	q.Set("anyhost", "false")
	q.Set("application", r.app)
	q.Set("side", "provider")
	q.Set("category", "providers")
	q.Set("protocol", "dubbo")
	q.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	if len(s.Methods) > 0 {
		m := append([]string(nil), s.Methods...)
		sort.Strings(m)
		q.Set("methods", strings.Join(m, ","))
	}
	if s.Group != "" {
		q.Set("group", s.Group)
	}
	if s.Version != "" {
		q.Set("version", s.Version)
	}
	if s.Weight != 0 {
		q.Set("weight", strconv.Itoa(int(s.Weight)))
	}
	if s.Tag != "" {
		q.Set("dubbo.tag", s.Tag)
	}
	return "dubbo://" + r.address + "/" + s.Interface + "?" + dubboQuery(q)
}

// dubboQuery writes parameters as Dubbo does in a registry URL: sorted,
// values not percent-encoded ("methods=a,b"; the whole URL is encoded
// once as the node name). Java Dubbo reads parameters without decoding
// them, so q.Encode()'s "a%2Cb" would reach it as a method named
// "a%2Cb". Values are checked by Service.Validate (no '&', '=' ...).
func dubboQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(q.Get(k))
	}
	return b.String()
}

func (r *Registrar) consumerURL(s Service) string {
	host, _, _ := net.SplitHostPort(r.address)
	q := url.Values{}
	q.Set("interface", s.Interface)
	q.Set("application", r.app)
	q.Set("side", "consumer")
	q.Set("category", "consumers")
	if s.Group != "" {
		q.Set("group", s.Group)
	}
	if s.Version != "" {
		q.Set("version", s.Version)
	}
	return "consumer://" + host + "/" + s.Interface + "?" + dubboQuery(q)
}

// Publish registers s as provided at the registrar's address. Publishing
// the same service key again replaces the earlier node (one node per key).
func (r *Registrar) Publish(s Service) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	dir := path.Join(r.root, s.Interface, "providers")
	return r.put(dir, s, url.QueryEscape(r.ProviderURL(s)), "provider")
}

// Unpublish removes what Publish registered for s's service key.
func (r *Registrar) Unpublish(s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return r.remove(path.Join(r.root, s.Interface, "providers"), s)
}

// Subscribe registers a consumer node for s (dubbo-admin lists consumers
// from them); the adapter routes every interface whether subscribed or not.
func (r *Registrar) Subscribe(s Service) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	return r.put(path.Join(r.root, s.Interface, "consumers"), s, url.QueryEscape(r.consumerURL(s)), "consumer")
}

// Unsubscribe removes the consumer node of s.
func (r *Registrar) Unsubscribe(s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return r.remove(path.Join(r.root, s.Interface, "consumers"), s)
}

// keyOf is the node's identity within its directory: the service key of
// the URL (a republished service replaces its node).
func keyOf(node string) string {
	raw, err := url.QueryUnescape(node)
	if err != nil {
		return node
	}
	u, err := url.Parse(raw)
	if err != nil {
		return node
	}
	q := u.Query()
	return dubboreg.ServiceKey(strings.TrimPrefix(u.Path, "/"), q.Get("group"), q.Get("version"))
}

func (r *Registrar) put(dir string, s Service, node, kind string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	full := path.Join(dir, node)
	key := dubboreg.ServiceKey(s.Interface, s.Group, s.Version)
	for p := range r.nodes {
		if path.Dir(p) == dir && keyOf(path.Base(p)) == key && p != full {
			if err := r.conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return "", fmt.Errorf("replace %s: %w", p, err)
			}
			delete(r.nodes, p)
		}
	}
	if err := r.create(full); err != nil {
		return "", err
	}
	r.nodes[full] = kind
	return full, nil
}

func (r *Registrar) remove(dir string, s Service) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := dubboreg.ServiceKey(s.Interface, s.Group, s.Version)
	found := false
	for p := range r.nodes {
		if path.Dir(p) == dir && keyOf(path.Base(p)) == key {
			found = true
			if err := r.conn.Delete(p, -1); err != nil && !errors.Is(err, zk.ErrNoNode) {
				return fmt.Errorf("delete %s: %w", p, err)
			}
			delete(r.nodes, p)
		}
	}
	if !found {
		return fmt.Errorf("%s is not registered here", key)
	}
	return nil
}

// create makes the parents (persistent, as Dubbo does) and the ephemeral
// node; an existing node of this session is fine.
func (r *Registrar) create(full string) error {
	parts := strings.Split(strings.TrimPrefix(path.Dir(full), "/"), "/")
	cur := ""
	for _, p := range parts {
		cur += "/" + p
		if _, err := r.conn.Create(cur, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return fmt.Errorf("create %s: %w", cur, err)
		}
	}
	if _, err := r.conn.Create(full, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return fmt.Errorf("create %s: %w", path.Base(path.Dir(full)), err)
	}
	return nil
}

// Registered lists the node paths held now.
func (r *Registrar) Registered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.nodes))
	for p := range r.nodes {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Close deletes every node (so consumers stop at once, not after the
// session timeout) and ends the session.
func (r *Registrar) Close() {
	r.mu.Lock()
	for p := range r.nodes {
		_ = r.conn.Delete(p, -1)
		delete(r.nodes, p)
	}
	r.mu.Unlock()
	r.conn.Close()
	select {
	case <-r.done:
	case <-time.After(2 * time.Second):
	}
}

type quiet struct{}

func (quiet) Printf(string, ...interface{}) {}
